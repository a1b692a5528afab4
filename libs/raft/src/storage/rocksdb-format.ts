// On-disk format of the RocksDB storage. Every value starts with a big-endian CRC-32C computed
// over the key followed by the rest of the value: seeding with the key binds a value to the
// index (or chunk number) it was written under, so a value found under the wrong key fails
// its check just like a flipped bit does. The index itself is therefore not repeated in it.
import { crc32c } from '@node-rs/crc32';
import { SNAPSHOT_CHUNK_BYTES } from '../snapshot-stream.js';
import { StorageCorruptionError } from '../storage.js';
import { decodeMembers, encodeMembers, MembershipFormatError } from '../membership.js';
import { EntryType, type Entry, type HardState, type SnapshotMeta } from '../types.js';

// Single-byte prefixes order the keyspace: hard state, snapshot meta, the log (whose big-endian
// index keys make iteration order equal index order), then snapshot chunks by snapshot id and
// chunk number. 0x03 held the chunks of the one snapshot of format 1.
export const HARD_STATE_KEY = Buffer.from([0x01]);
export const SNAPSHOT_META_KEY = Buffer.from([0x02]);
const LEGACY_SNAPSHOT_CHUNK_PREFIX = 0x03;
export const LOG_PREFIX = 0x04;
export const SNAPSHOT_CHUNK_PREFIX = 0x05;
const prefixRange = (prefix: number) => ({
  gte: Buffer.from([prefix]),
  lt: Buffer.from([prefix + 1]),
});
export const LEGACY_SNAPSHOT_CHUNK_RANGE = prefixRange(LEGACY_SNAPSHOT_CHUNK_PREFIX);
export const SNAPSHOT_CHUNK_RANGE = prefixRange(SNAPSHOT_CHUNK_PREFIX);
export const LOG_RANGE = prefixRange(LOG_PREFIX);

/** Snapshots are split so no single RocksDB value (and WAL record) gets huge. */
export const SNAPSHOT_CHUNK_SIZE = SNAPSHOT_CHUNK_BYTES;

const LOG_KEY_LENGTH = 9;
const CHUNK_KEY_LENGTH = 1 + 8 + 4;
const LEGACY_CHUNK_KEY_LENGTH = 1 + 4;
const CRC_LENGTH = 4;
const ENTRY_HEADER_LENGTH = CRC_LENGTH + 8 + 1;
const HARD_STATE_HEADER_LENGTH = CRC_LENGTH + 8 + 8;
const SNAPSHOT_META_FORMAT_FIXED = 2;
const SNAPSHOT_META_FORMAT = 3;
const SNAPSHOT_META_LENGTH = CRC_LENGTH + 1 + 8 + 8 + 8 + 8 + 4 + 4;
const LEGACY_SNAPSHOT_META_LENGTH = CRC_LENGTH + 8 + 8 + 8 + 4 + 4;
const TWO_POW_32 = 0x1_0000_0000;
// Largest high word of a uint64 that still fits a safe JS integer (2^53 - 1).
const MAX_SAFE_HIGH_WORD = 0x1f_ffff;

/** Where decoding happens, for the error a corrupt value raises. */
export interface CorruptionContext {
  readonly nodeId: string;
  readonly location: string;
}

function corruption(ctx: CorruptionContext, index: number | null, detail: string): never {
  throw new StorageCorruptionError(ctx.nodeId, ctx.location, index, detail);
}

function writeUint64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32BE(Math.floor(value / TWO_POW_32), offset);
  buf.writeUInt32BE(value >>> 0, offset + 4);
}

/** Returns -1 for a value JS numbers cannot hold exactly, which no valid record contains. */
function readUint64(buf: Buffer, offset: number): number {
  const high = buf.readUInt32BE(offset);
  if (high > MAX_SAFE_HIGH_WORD) return -1;
  return high * TWO_POW_32 + buf.readUInt32BE(offset + 4);
}

function sealed(key: Buffer, value: Buffer): Buffer {
  value.writeUInt32BE(crc32c(value.subarray(CRC_LENGTH), crc32c(key)), 0);
  return value;
}

function intact(key: Buffer, value: Buffer): boolean {
  return (
    value.length >= CRC_LENGTH &&
    value.readUInt32BE(0) === crc32c(value.subarray(CRC_LENGTH), crc32c(key))
  );
}

export function logKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(LOG_KEY_LENGTH);
  key[0] = LOG_PREFIX;
  writeUint64(key, index, 1);
  return key;
}

export function decodeLogKey(ctx: CorruptionContext, key: Buffer): number {
  // Index 0 is never written: the log starts at 1.
  const index = key.length === LOG_KEY_LENGTH && key[0] === LOG_PREFIX ? readUint64(key, 1) : 0;
  if (index < 1) corruption(ctx, null, `malformed log key 0x${key.toString('hex')}`);
  return index;
}

/** Value layout: [crc32c][term: uint64 BE][type: 1 byte][data]. */
export function encodeEntry(key: Buffer, entry: Entry): Buffer {
  const value = Buffer.allocUnsafe(ENTRY_HEADER_LENGTH + entry.data.length);
  writeUint64(value, entry.term, CRC_LENGTH);
  value[CRC_LENGTH + 8] = entry.type;
  value.set(entry.data, ENTRY_HEADER_LENGTH);
  return sealed(key, value);
}

export function decodeEntry(ctx: CorruptionContext, key: Buffer, value: Buffer): Entry {
  const index = decodeLogKey(ctx, key);
  if (value.length < ENTRY_HEADER_LENGTH) {
    corruption(ctx, index, `entry value truncated to ${value.length} bytes`);
  }
  if (!intact(key, value)) corruption(ctx, index, 'entry checksum mismatch');
  const term = readUint64(value, CRC_LENGTH);
  const type = value[CRC_LENGTH + 8];
  if (term < 0) corruption(ctx, index, 'entry term out of range');
  if (type !== EntryType.Normal && type !== EntryType.Noop && type !== EntryType.Config) {
    corruption(ctx, index, `unknown entry type ${type}`);
  }
  // A view, not a copy: RocksDB hands every value over in a buffer of its own.
  const data = new Uint8Array(
    value.buffer,
    value.byteOffset + ENTRY_HEADER_LENGTH,
    value.length - ENTRY_HEADER_LENGTH,
  );
  return { index, term, type, data };
}

/** Value layout: [crc32c][term: uint64 BE][commit: uint64 BE][vote: UTF-8]. */
export function encodeHardState(hardState: HardState): Buffer {
  const voteLength = Buffer.byteLength(hardState.vote, 'utf8');
  const value = Buffer.allocUnsafe(HARD_STATE_HEADER_LENGTH + voteLength);
  writeUint64(value, hardState.term, CRC_LENGTH);
  writeUint64(value, hardState.commit, CRC_LENGTH + 8);
  value.write(hardState.vote, HARD_STATE_HEADER_LENGTH, 'utf8');
  return sealed(HARD_STATE_KEY, value);
}

export function decodeHardState(ctx: CorruptionContext, value: Buffer): HardState {
  if (value.length < HARD_STATE_HEADER_LENGTH || !intact(HARD_STATE_KEY, value)) {
    corruption(ctx, null, 'hard state checksum mismatch');
  }
  const term = readUint64(value, CRC_LENGTH);
  const commit = readUint64(value, CRC_LENGTH + 8);
  if (term < 0 || commit < 0) corruption(ctx, null, 'hard state out of range');
  return { term, commit, vote: value.toString('utf8', HARD_STATE_HEADER_LENGTH) };
}

/**
 * The stored snapshot's meta record: which chunks hold its data and what they must add up to.
 * Chunks of snapshot `id` live under [0x05][id][chunk number]; id 0 names the layout before
 * snapshots were streamed (one snapshot, under [0x03][chunk number]), still read.
 */
export interface StoredSnapshotMeta {
  readonly meta: SnapshotMeta;
  readonly id: number;
  readonly dataLength: number;
  readonly chunkCount: number;
  /** CRC-32C of the whole data: ties the chunks to this meta record. */
  readonly dataCrc: number;
}

export function snapshotChunkCount(dataLength: number): number {
  return Math.ceil(dataLength / SNAPSHOT_CHUNK_SIZE);
}

/**
 * Value layout: [crc32c][format: 3][index][term][id][data length: uint64 BE][chunks: uint32]
 * [data crc32c][membership index: uint64 BE][membership: encodeMembers]. Format 2 ended after
 * the data crc (no membership: the bootstrap one applies); format 1 also had no format byte and
 * no id (its chunks are those of id 0). Snapshots without a membership are written as format 2.
 */
export function encodeSnapshotMeta(stored: StoredSnapshotMeta): Buffer {
  const membership = stored.meta.membership;
  const members = membership ? Buffer.from(encodeMembers(membership.members)) : undefined;
  const value = Buffer.allocUnsafe(SNAPSHOT_META_LENGTH + (members ? 8 + members.length : 0));
  if (membership && members) {
    writeUint64(value, membership.index, SNAPSHOT_META_LENGTH);
    members.copy(value, SNAPSHOT_META_LENGTH + 8);
  }
  let at = CRC_LENGTH;
  value[at++] = members ? SNAPSHOT_META_FORMAT : SNAPSHOT_META_FORMAT_FIXED;
  for (const n of [stored.meta.index, stored.meta.term, stored.id, stored.dataLength]) {
    writeUint64(value, n, at);
    at += 8;
  }
  value.writeUInt32BE(stored.chunkCount, at);
  value.writeUInt32BE(stored.dataCrc, at + 4);
  return sealed(SNAPSHOT_META_KEY, value);
}

export function decodeSnapshotMeta(ctx: CorruptionContext, value: Buffer): StoredSnapshotMeta {
  const legacy = value.length === LEGACY_SNAPSHOT_META_LENGTH;
  const format = legacy ? 1 : value[CRC_LENGTH];
  const lengthOk =
    legacy ||
    (format === SNAPSHOT_META_FORMAT_FIXED && value.length === SNAPSHOT_META_LENGTH) ||
    (format === SNAPSHOT_META_FORMAT && value.length > SNAPSHOT_META_LENGTH + 8);
  if (!intact(SNAPSHOT_META_KEY, value) || (!lengthOk && value.length < SNAPSHOT_META_LENGTH)) {
    corruption(ctx, null, 'snapshot metadata checksum mismatch');
  }
  if (!lengthOk) corruption(ctx, null, `unknown snapshot metadata format ${format}`);
  let at = legacy ? CRC_LENGTH : CRC_LENGTH + 1;
  const next = (): number => {
    at += 8;
    return readUint64(value, at - 8);
  };
  const index = next();
  const term = next();
  const id = legacy ? 0 : next();
  const dataLength = next();
  const chunkCount = value.readUInt32BE(at);
  if (
    index < 0 ||
    term < 0 ||
    id < 0 ||
    dataLength < 0 ||
    chunkCount !== snapshotChunkCount(dataLength)
  ) {
    corruption(ctx, null, 'snapshot metadata out of range');
  }
  const dataCrc = value.readUInt32BE(at + 4);
  if (format !== SNAPSHOT_META_FORMAT)
    return { meta: { index, term }, id, dataLength, chunkCount, dataCrc };
  const configIndex = readUint64(value, SNAPSHOT_META_LENGTH);
  let members;
  try {
    members = decodeMembers(value.subarray(SNAPSHOT_META_LENGTH + 8));
  } catch (e) {
    if (!(e instanceof MembershipFormatError)) throw e;
    corruption(ctx, null, `snapshot membership: ${e.message}`);
  }
  if (configIndex < 0 || configIndex > index)
    corruption(ctx, null, 'snapshot membership index out of range');
  const membership = { index: configIndex, members };
  return { meta: { index, term, membership }, id, dataLength, chunkCount, dataCrc };
}

/** Key of chunk `chunk` of snapshot `id` (id 0: the layout of format 1). */
export function snapshotChunkKey(id: number, chunk: number): Buffer {
  if (id === 0) {
    const key = Buffer.allocUnsafe(LEGACY_CHUNK_KEY_LENGTH);
    key[0] = LEGACY_SNAPSHOT_CHUNK_PREFIX;
    key.writeUInt32BE(chunk, 1);
    return key;
  }
  const key = Buffer.allocUnsafe(CHUNK_KEY_LENGTH);
  key[0] = SNAPSHOT_CHUNK_PREFIX;
  writeUint64(key, id, 1);
  key.writeUInt32BE(chunk, 9);
  return key;
}

/** The keys of snapshot id's chunks. */
export function snapshotChunkRange(id: number): { gte: Buffer; lt: Buffer } {
  if (id === 0) return LEGACY_SNAPSHOT_CHUNK_RANGE;
  return { gte: snapshotChunkKey(id, 0), lt: snapshotChunkKey(id + 1, 0) };
}

/** The snapshot id of a key in SNAPSHOT_CHUNK_RANGE. */
export function decodeSnapshotChunkId(ctx: CorruptionContext, key: Buffer): number {
  const id =
    key.length === CHUNK_KEY_LENGTH && key[0] === SNAPSHOT_CHUNK_PREFIX ? readUint64(key, 1) : 0;
  if (id < 1) corruption(ctx, null, `malformed snapshot chunk key 0x${key.toString('hex')}`);
  return id;
}

/** Value layout: [crc32c][the chunk's bytes]. */
export function encodeSnapshotChunk(key: Buffer, data: Uint8Array): Buffer {
  const value = Buffer.allocUnsafe(CRC_LENGTH + data.length);
  value.set(data, CRC_LENGTH);
  return sealed(key, value);
}

/**
 * Checks the chunks of one snapshot as they are read in key order (each chunk, and at the end
 * that they add up to exactly what the meta record promised) and hands out their bytes.
 */
export class SnapshotChunkReader {
  private received = 0;
  private offset = 0;
  private crc = 0;

  constructor(
    private readonly ctx: CorruptionContext,
    private readonly stored: StoredSnapshotMeta,
  ) {}

  /** The bytes of the next chunk, a view of `value`. */
  next(key: Buffer, value: Buffer): Uint8Array {
    if (!key.equals(snapshotChunkKey(this.stored.id, this.received))) {
      corruption(this.ctx, null, `unexpected snapshot chunk key 0x${key.toString('hex')}`);
    }
    if (!intact(key, value)) {
      corruption(this.ctx, null, `snapshot chunk ${this.received} checksum mismatch`);
    }
    const length = value.length - CRC_LENGTH;
    const expectedLength = Math.min(SNAPSHOT_CHUNK_SIZE, this.stored.dataLength - this.offset);
    if (this.received >= this.stored.chunkCount || length !== expectedLength) {
      corruption(this.ctx, null, `snapshot chunk ${this.received} does not match its metadata`);
    }
    const data = value.subarray(CRC_LENGTH);
    this.crc = crc32c(data, this.crc);
    this.offset += length;
    this.received++;
    return data;
  }

  finish(): void {
    if (this.received !== this.stored.chunkCount || this.crc !== this.stored.dataCrc) {
      corruption(
        this.ctx,
        null,
        `snapshot at index ${this.stored.meta.index} is incomplete or does not match its checksum`,
      );
    }
  }
}
