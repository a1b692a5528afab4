// What a data dir says about itself, in <data dir>/identity.json: the node it belongs to and the
// format of what it holds, checked before anything in it is opened. A node started on another
// node's data dir would answer as that node (with its votes and its log) to peers that know
// better; a node started on a newer format would misread it. Both refuse to start, with a
// message that says what to do. (A data dir of another cluster is told apart by its cluster id,
// cluster-id.ts, once a peer answers.)
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** The layout this version writes: raft/ (RocksDB), cluster-id, identity.json. */
export const DATA_DIR_FORMAT = 1;
const FILE = 'identity.json';

const identitySchema = z.object({
  format: z.number().int().positive(),
  node: z.string().min(1),
  /** Set by --force-new-cluster: the log index of the configuration that made it one member. */
  forced_new_cluster_at: z.number().int().positive().optional(),
});

export type DataDirIdentity = z.infer<typeof identitySchema>;

/** A data dir this node must not start on; the message says why and what to do. */
export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

/**
 * Checks that `dir` is this node's data dir in a format this version reads, creating its
 * identity if it has none: a new data dir, or one written before identities existed.
 */
export function claimDataDir(dir: string, nodeId: string): DataDirIdentity {
  const found = readIdentity(dir);
  if (found === undefined) {
    const identity = { format: DATA_DIR_FORMAT, node: nodeId };
    writeIdentity(dir, identity);
    return identity;
  }
  if (found.format > DATA_DIR_FORMAT) {
    throw new DataDirError(
      `data dir ${dir} was written by a newer Quorum Lock (data format ${found.format}; this ` +
        `version reads format ${DATA_DIR_FORMAT} and older): run that version or a newer one`,
    );
  }
  if (found.node !== nodeId) {
    throw new DataDirError(
      `data dir ${dir} belongs to node ${found.node}, not ${nodeId}: give each node its own ` +
        `--data-dir (a node's log and votes are its own), or start ${found.node} on it`,
    );
  }
  return found;
}

export function readIdentity(dir: string): DataDirIdentity | undefined {
  const file = join(dir, FILE);
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DataDirError(`${file} is not valid JSON (${(e as Error).message}): fix or remove it`);
  }
  const format = (raw as { format?: unknown } | null)?.format;
  // A newer format may change anything else in the file: its number is all this one reads.
  if (typeof format === 'number' && Number.isInteger(format) && format > DATA_DIR_FORMAT) {
    const node = (raw as { node?: unknown }).node;
    return { format, node: typeof node === 'string' ? node : '' };
  }
  const parsed = identitySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new DataDirError(
      `${file}: field ${issue.path.join('.') || '(root)'}: ${issue.message}: fix or remove it`,
    );
  }
  return parsed.data;
}

export function writeIdentity(dir: string, identity: DataDirIdentity): void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(identity)}\n`, { flush: true });
  renameSync(`${file}.tmp`, file);
}

/** Whether dir is absent or empty: a place `snapshot restore` may write a data dir. */
export function isEmptyDir(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}
