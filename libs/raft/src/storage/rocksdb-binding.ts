// The subset of the rocksdb package's API (abstract-leveldown 7) that RocksDbStorage uses: the
// package ships no type declarations.
import { createRequire } from 'node:module';
import { asError } from '../../../common/src/errors.js';
import { ignoreRejection } from '../../../common/src/ignore.js';

type Callback<T = void> = (err: Error | null | undefined, result: T) => void;

export interface BatchOp {
  readonly type: 'put' | 'del';
  readonly key: Buffer;
  readonly value?: Buffer;
}

export interface RocksIterator {
  next(cb: (err: Error | null | undefined, key?: Buffer, value?: Buffer) => void): void;
  end(cb: (err?: Error | null) => void): void;
}

export interface RocksDb {
  open(options: { createIfMissing: boolean; errorIfExists: boolean }, cb: Callback): void;
  close(cb: Callback): void;
  batch(ops: BatchOp[], options: { sync: boolean }, cb: Callback): void;
  /**
   * Deletes the keys in the range on the thread pool, in key order, in unsynced batches of about
   * 16 KiB of keys: not atomic, a crash keeps a suffix of the range.
   */
  clear(options: { gte: Buffer; lte: Buffer }, cb: Callback): void;
  getMany(keys: Buffer[], options: { asBuffer: true }, cb: Callback<(Buffer | undefined)[]>): void;
  /** Reads from an implicit snapshot of the database taken here, synchronously. */
  iterator(options: Record<string, unknown>): RocksIterator;
}

export const rocksdb = createRequire(import.meta.url)('rocksdb') as (location: string) => RocksDb;

export function call<T = void>(run: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((done, fail) => run((err, result) => (err ? fail(err) : done(result))));
}

// Large reads per native call: load scans the whole log.
export const SCAN_HIGH_WATER_MARK = 1 << 20;

export function scan(
  db: RocksDb,
  range: Record<string, unknown>,
  visit: (key: Buffer, value: Buffer) => void,
): Promise<void> {
  return new Promise((done, fail) => {
    const it = db.iterator({ ...range, highWaterMark: SCAN_HIGH_WATER_MARK });
    const finish = (error?: unknown): void =>
      it.end((endError) => {
        if (error !== undefined) fail(asError(error));
        else if (endError) fail(endError);
        else done();
      });
    const step = (): void =>
      it.next((err, key, value) => {
        if (err) return finish(err);
        if (key === undefined || value === undefined) return finish();
        try {
          visit(key, value);
        } catch (visitError) {
          return finish(visitError);
        }
        step();
      });
    step();
  });
}

/** An iterator read one entry per call, ended once however often end() is called. */
export class EntryCursor {
  private ended: Promise<void> | null = null;

  constructor(private readonly it: RocksIterator) {}

  /** The next entry, or null at the end of the range. */
  next(): Promise<[Buffer, Buffer] | null> {
    if (this.ended !== null) return Promise.reject(new Error('iterator ended'));
    return new Promise((done, fail) =>
      this.it.next((err, key, value) => {
        if (err) fail(err);
        else done(key === undefined || value === undefined ? null : [key, value]);
      }),
    );
  }

  end(): Promise<void> {
    this.ended ??= ignoreRejection(
      call((cb) => this.it.end(cb)),
      'an iterator that fails to end holds no lock and is collected',
    ).then(() => undefined);
    return this.ended;
  }
}
