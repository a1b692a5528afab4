import { createRequire } from 'node:module';
import { EntryType, type Entry, type Snapshot } from '../../src/types.js';

export function entry(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(text) };
}

export function range(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

export function snapshot(index: number, term: number, size = 3): Snapshot {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + i) & 0xff;
  return { meta: { index, term }, data };
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
