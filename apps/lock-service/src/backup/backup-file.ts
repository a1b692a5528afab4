// A backup file: one lock-state snapshot taken on the leader, with a header saying what it is
// and a checksum over all of it. The leader streams the whole file (ClusterService.Snapshot);
// `quorumlock snapshot save` writes it as it comes, `status` checks it, `restore` turns it into
// the data dirs of a new cluster.
//
//   "QLBACKUP"  magic, 8 bytes
//   u32 BE      length of the header
//   header      BackupHeader as JSON (UTF-8)
//   body        the lock state's snapshot, in its own versioned format (snapshot-format.ts)
//   trailer     SHA-256 of everything before it (32 bytes)
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { z } from 'zod';

export const BACKUP_FORMAT = 1;
const MAGIC = Buffer.from('QLBACKUP', 'latin1');
const LENGTH_BYTES = 4;
const CHECKSUM_BYTES = 32;
/** A header is a few hundred bytes; anything near this is not one. */
const MAX_HEADER_BYTES = 1 << 20;

const count = z.number().int().nonnegative();
const headerSchema = z.object({
  format: z.number().int().positive(),
  cluster_id: z.string(),
  /** The last log index the state covers: every fencing token in it is at most this. */
  index: count,
  term: count,
  /** The body's format version (SNAPSHOT_VERSION of snapshot-format.ts). */
  state_format: count,
  taken_by: z.string(),
  taken_at: z.string(),
  counts: z.object({
    leases: count,
    locks_held: count,
    elections_led: count,
    waiters: count,
    max_token: count,
  }),
  members: z.array(z.object({ id: z.string(), address: z.string(), learner: z.boolean() })),
});

export type BackupHeader = z.infer<typeof headerSchema>;

/** A file that is not a whole, intact backup this version can read. */
export class BackupFileError extends Error {
  override readonly name = 'BackupFileError';
}

/** The file's bytes, from the header and the body's chunks, as the leader sends them. */
export function* backupBytes(
  header: BackupHeader,
  body: Iterator<Uint8Array>,
): Generator<Uint8Array> {
  const hash = createHash('sha256');
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(MAGIC.length + LENGTH_BYTES + json.length);
  MAGIC.copy(head, 0);
  head.writeUInt32BE(json.length, MAGIC.length);
  json.copy(head, MAGIC.length + LENGTH_BYTES);
  hash.update(head);
  yield head;
  try {
    for (let n = body.next(); !n.done; n = body.next()) {
      hash.update(n.value);
      yield n.value;
    }
  } finally {
    body.return?.();
  }
  yield hash.digest();
}

/** An opened backup file: its header read and checked, its body not yet. */
export interface BackupFile {
  readonly path: string;
  readonly header: BackupHeader;
  readonly bytes: number;
  readonly bodyBytes: number;
  /** The SHA-256 the file carries, as hex. */
  readonly checksum: string;
  /** Reads the whole file; throws BackupFileError unless its checksum matches. */
  verify(): Promise<void>;
  /** The body's bytes, in chunks (unchecked: verify() first). */
  body(): AsyncIterable<Uint8Array>;
}

/** Opens a backup file and reads its header; throws BackupFileError for anything else. */
export async function openBackup(path: string): Promise<BackupFile> {
  const fh = await open(path, 'r');
  let header: BackupHeader;
  let bodyStart: number;
  let size: number;
  let stored: Buffer;
  try {
    size = (await fh.stat()).size;
    const fixed = MAGIC.length + LENGTH_BYTES;
    const head = Buffer.alloc(fixed);
    await fh.read(head, 0, fixed, 0);
    if (size < MAGIC.length || !head.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new BackupFileError(`${path} is not a Quorum Lock snapshot file`);
    }
    if (size < fixed + CHECKSUM_BYTES) {
      throw new BackupFileError(`${path} is truncated or corrupt: it ends after ${size} bytes`);
    }
    const length = head.readUInt32BE(MAGIC.length);
    bodyStart = fixed + length;
    if (length > MAX_HEADER_BYTES || bodyStart + CHECKSUM_BYTES > size) {
      throw new BackupFileError(`${path} is truncated or corrupt: its header does not fit in it`);
    }
    const json = Buffer.alloc(length);
    await fh.read(json, 0, length, fixed);
    header = parseHeader(path, json);
    stored = Buffer.alloc(CHECKSUM_BYTES);
    await fh.read(stored, 0, CHECKSUM_BYTES, size - CHECKSUM_BYTES);
  } finally {
    await fh.close();
  }
  const bodyEnd = size - CHECKSUM_BYTES;
  return {
    path,
    header,
    bytes: size,
    bodyBytes: bodyEnd - bodyStart,
    checksum: stored.toString('hex'),
    async verify() {
      const hash = createHash('sha256');
      // Reading what the header and body are now, not what was parsed: one pass over the bytes.
      for await (const chunk of createReadStream(path, { start: 0, end: bodyEnd - 1 })) {
        hash.update(chunk as Buffer);
      }
      const actual = hash.digest();
      if (!actual.equals(stored)) {
        throw new BackupFileError(
          `${path} is corrupt: its SHA-256 is ${actual.toString('hex')}, ` +
            `but the file records ${stored.toString('hex')}`,
        );
      }
    },
    body() {
      if (bodyEnd === bodyStart) return (async function* () {})();
      return createReadStream(path, {
        start: bodyStart,
        end: bodyEnd - 1,
      }) as AsyncIterable<Buffer>;
    },
  };
}

function parseHeader(path: string, json: Buffer): BackupHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(json.toString('utf8'));
  } catch {
    throw new BackupFileError(`${path} is corrupt: its header is not JSON`);
  }
  const format = (raw as { format?: unknown } | null)?.format;
  if (typeof format === 'number' && format > BACKUP_FORMAT) {
    throw new BackupFileError(
      `${path} has snapshot file format ${format}, newer than this quorumlock reads ` +
        `(${BACKUP_FORMAT}): use a newer quorumlock`,
    );
  }
  const parsed = headerSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BackupFileError(
      `${path} is corrupt: header field ${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
  }
  return parsed.data;
}
