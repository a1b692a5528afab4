// On-disk format of the RocksDB storage. Every value starts with a big-endian CRC-32C computed
// over the key followed by the rest of the value: seeding with the key binds a value to the
// index (or chunk number) it was written under, so a value found under the wrong key fails
// its check just like a flipped bit does. The index itself is therefore not repeated in it.
import { crc32c } from '@node-rs/crc32';
import { StorageCorruptionError } from '../storage.js';
import { EntryType, type Entry, type HardState, type SnapshotMeta } from '../types.js';

// Single-byte prefixes order the keyspace: hard state, snapshot meta, snapshot chunks, then
// the log, whose big-endian index keys make iteration order equal index order.
export const HARD_STATE_KEY = Buffer.from([0x01]);
export const SNAPSHOT_META_KEY = Buffer.from([0x02]);
export const SNAPSHOT_CHUNK_PREFIX = 0x03;
export const LOG_PREFIX = 0x04;
export const SNAPSHOT_CHUNK_RANGE = {
  gte: Buffer.from([SNAPSHOT_CHUNK_PREFIX]),
  lt: Buffer.from([SNAPSHOT_CHUNK_PREFIX + 1]),
};
export const LOG_RANGE = { gte: Buffer.from([LOG_PREFIX]), lt: Buffer.from([LOG_PREFIX + 1]) };

/** Snapshots are split so no single RocksDB value (and WAL record) gets huge. */
export const SNAPSHOT_CHUNK_SIZE = 1 << 20;

const LOG_KEY_LENGTH = 9;
const CHUNK_KEY_LENGTH = 5;
const CRC_LENGTH = 4;
const ENTRY_HEADER_LENGTH = CRC_LENGTH + 8 + 1;
const HARD_STATE_HEADER_LENGTH = CRC_LENGTH + 8 + 8;
const SNAPSHOT_META_LENGTH = CRC_LENGTH + 8 + 8 + 8 + 4 + 4;
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
  if (type !== EntryType.Normal && type !== EntryType.Noop) {
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

/** What the meta record says about the chunks that must follow it. */
export interface StoredSnapshotMeta {
  readonly meta: SnapshotMeta;
  readonly dataLength: number;
  readonly chunkCount: number;
  /** CRC-32C of the whole data: ties the chunks to this meta record. */
  readonly dataCrc: number;
}

export function snapshotChunkCount(dataLength: number): number {
  return Math.ceil(dataLength / SNAPSHOT_CHUNK_SIZE);
}

/** Value layout: [crc32c][index][term][data length: uint64 BE][chunks: uint32][data crc32c]. */
export function encodeSnapshotMeta(meta: SnapshotMeta, data: Uint8Array): Buffer {
  const value = Buffer.allocUnsafe(SNAPSHOT_META_LENGTH);
  writeUint64(value, meta.index, CRC_LENGTH);
  writeUint64(value, meta.term, CRC_LENGTH + 8);
  writeUint64(value, data.length, CRC_LENGTH + 16);
  value.writeUInt32BE(snapshotChunkCount(data.length), CRC_LENGTH + 24);
  value.writeUInt32BE(crc32c(data), CRC_LENGTH + 28);
  return sealed(SNAPSHOT_META_KEY, value);
}

export function decodeSnapshotMeta(ctx: CorruptionContext, value: Buffer): StoredSnapshotMeta {
  if (value.length !== SNAPSHOT_META_LENGTH || !intact(SNAPSHOT_META_KEY, value)) {
    corruption(ctx, null, 'snapshot metadata checksum mismatch');
  }
  const index = readUint64(value, CRC_LENGTH);
  const term = readUint64(value, CRC_LENGTH + 8);
  const dataLength = readUint64(value, CRC_LENGTH + 16);
  const chunkCount = value.readUInt32BE(CRC_LENGTH + 24);
  if (index < 0 || term < 0 || dataLength < 0 || chunkCount !== snapshotChunkCount(dataLength)) {
    corruption(ctx, null, 'snapshot metadata out of range');
  }
  return {
    meta: { index, term },
    dataLength,
    chunkCount,
    dataCrc: value.readUInt32BE(CRC_LENGTH + 28),
  };
}

export function snapshotChunkKey(chunk: number): Buffer {
  const key = Buffer.allocUnsafe(CHUNK_KEY_LENGTH);
  key[0] = SNAPSHOT_CHUNK_PREFIX;
  key.writeUInt32BE(chunk, 1);
  return key;
}

/** Value layout: [crc32c][bytes of chunk `chunk`]. */
export function encodeSnapshotChunk(key: Buffer, data: Uint8Array, chunk: number): Buffer {
  const start = chunk * SNAPSHOT_CHUNK_SIZE;
  const end = Math.min(start + SNAPSHOT_CHUNK_SIZE, data.length);
  const value = Buffer.allocUnsafe(CRC_LENGTH + end - start);
  value.set(data.subarray(start, end), CRC_LENGTH);
  return sealed(key, value);
}

/**
 * Reassembles snapshot data from chunks fed in key order, checking each chunk and, at the
 * end, that they add up to exactly what the meta record promised.
 */
export class StoredSnapshotAssembler {
  private readonly data: Uint8Array;
  private received = 0;
  private offset = 0;

  constructor(
    private readonly ctx: CorruptionContext,
    private readonly stored: StoredSnapshotMeta,
  ) {
    this.data = new Uint8Array(stored.dataLength);
  }

  add(key: Buffer, value: Buffer): void {
    const expected = snapshotChunkKey(this.received);
    if (!key.equals(expected)) {
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
    this.data.set(value.subarray(CRC_LENGTH), this.offset);
    this.offset += length;
    this.received++;
  }

  finish(): Uint8Array {
    if (this.received !== this.stored.chunkCount || crc32c(this.data) !== this.stored.dataCrc) {
      corruption(
        this.ctx,
        null,
        `snapshot at index ${this.stored.meta.index} is incomplete or does not match its checksum`,
      );
    }
    return this.data;
  }
}
