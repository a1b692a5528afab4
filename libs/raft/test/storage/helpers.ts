import { createRequire } from 'node:module';
import { chunksOf, readAll } from '../../src/snapshot-stream.js';
import type { PersistentState } from '../../src/storage.js';
import { EntryType, type Entry, type Snapshot, type SnapshotMeta } from '../../src/types.js';

export function entry(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(text) };
}

export function range(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

/** A snapshot as plain bytes, for writing and for comparing with what was read back. */
export interface SnapshotBytes {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export function snapshot(index: number, term: number, size = 3): SnapshotBytes {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + i) & 0xff;
  return { meta: { index, term }, data };
}

/** The bytes as a stream of chunks of `size` bytes, as a state machine would hand them out. */
export async function* streamOf(data: Uint8Array, size = 1000): AsyncGenerator<Uint8Array> {
  yield* chunksOf(data, size);
}

/** A stored snapshot read back into bytes. */
export async function bytesOf(s: Snapshot | null): Promise<SnapshotBytes | null> {
  if (s === null) return null;
  const data = await readAll(s.data.chunks());
  expect(data.length).toBe(s.data.bytes);
  // A Buffer and a Uint8Array with the same bytes are not equal to Jest.
  return { meta: s.meta, data: new Uint8Array(data) };
}

/** A loaded state with its snapshot read into bytes, for comparing. */
export async function materialize(state: PersistentState) {
  return { ...state, snapshot: await bytesOf(state.snapshot) };
}

/** Flips bits of byte `at` in place, as a failing disk would. */
export function flipBits(value: Buffer, at: number, mask: number): void {
  const byte = value[at];
  if (byte === undefined) throw new Error(`byte ${at} is past the ${value.length}-byte value`);
  value[at] = byte ^ mask;
}

export const indexes = (entries: readonly Entry[]): number[] => entries.map((e) => e.index);

type Done = (err?: Error | null) => void;
export interface RawIterator {
  next(cb: (err?: Error | null, key?: Buffer) => void): void;
  end(cb: Done): void;
}
export interface RawDb {
  open(cb: Done): void;
  close(cb: Done): void;
  put(key: Buffer, value: Buffer, cb: Done): void;
  del(key: Buffer, cb: Done): void;
  get(key: Buffer, cb: (err?: Error | null, value?: Buffer) => void): void;
  iterator(options: object): RawIterator;
}
const rocksdb = createRequire(import.meta.url)('rocksdb') as (location: string) => RawDb;

export const promised = <T = void>(
  run: (cb: (err?: Error | null, value?: T) => void) => void,
): Promise<T> => new Promise((ok, fail) => run((err, value) => (err ? fail(err) : ok(value as T))));

/** Opens the database behind a closed RocksDbStorage to damage it as a failing disk would. */
export async function withRawDb(dir: string, act: (db: RawDb) => Promise<unknown>): Promise<void> {
  const db = rocksdb(dir);
  await promised((cb) => db.open(cb));
  try {
    await act(db);
  } finally {
    await promised((cb) => db.close(cb));
  }
}
