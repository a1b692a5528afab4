import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import {
  checkCommitStored,
  StorageCorruptionError,
  type PersistBatch,
  type PersistentState,
  type Storage,
} from '../storage.js';
import type { Entry, HardState, Snapshot } from '../types.js';
import {
  HARD_STATE_KEY,
  LOG_RANGE,
  SNAPSHOT_CHUNK_RANGE,
  SNAPSHOT_META_KEY,
  StoredSnapshotAssembler,
  decodeEntry,
  decodeHardState,
  decodeLogKey,
  decodeSnapshotMeta,
  encodeEntry,
  encodeHardState,
  encodeSnapshotChunk,
  encodeSnapshotMeta,
  logKey,
  snapshotChunkCount,
  snapshotChunkKey,
  type CorruptionContext,
  type StoredSnapshotMeta,
} from './rocksdb-format.js';
import { checkLocalSnapshot, checkPersistBatch, type LogBounds } from './validation.js';
import { ignoreRejection } from '../../../common/src/ignore.js';
import { asError } from '../../../common/src/errors.js';

// The rocksdb package ships no type declarations; this is the subset of its
// (abstract-leveldown 7) API used here.
type Callback<T = void> = (err: Error | null | undefined, result: T) => void;
interface BatchOp {
  readonly type: 'put' | 'del';
  readonly key: Buffer;
  readonly value?: Buffer;
}
interface RocksIterator {
  next(cb: (err: Error | null | undefined, key?: Buffer, value?: Buffer) => void): void;
  end(cb: (err?: Error | null) => void): void;
}
interface RocksDb {
  open(options: { createIfMissing: boolean; errorIfExists: boolean }, cb: Callback): void;
  close(cb: Callback): void;
  batch(ops: BatchOp[], options: { sync: boolean }, cb: Callback): void;
  getMany(keys: Buffer[], options: { asBuffer: true }, cb: Callback<(Buffer | undefined)[]>): void;
  iterator(options: Record<string, unknown>): RocksIterator;
}
const rocksdb = createRequire(import.meta.url)('rocksdb') as (location: string) => RocksDb;

function call<T = void>(run: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((done, fail) => run((err, result) => (err ? fail(err) : done(result))));
}

const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };
// Large reads per native call: load scans the whole log.
const SCAN_HIGH_WATER_MARK = 1 << 20;

/**
 * Raft storage on RocksDB. Each write is one atomic, fsynced WriteBatch. Writes and reads are
 * run one at a time in call order: the binding runs batches on the libuv thread pool, where two
 * in flight at once could land in either order. The log bounds are kept in memory so that a
 * write never has to read first.
 *
 * Invariant kept by every write and checked at start-up: the stored log keys are exactly
 * firstIndex..lastIndex; when the log is empty, firstIndex = snapshotIndex + 1 and
 * lastIndex = snapshotIndex; otherwise firstIndex <= snapshotIndex + 1 <= lastIndex + 1.
 */
export class RocksDbStorage implements Storage {
  private readonly ctx: CorruptionContext;
  private tail: Promise<unknown> = Promise.resolve();
  private failure: Error | null = null;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly db: RocksDb,
    private readonly location: string,
    nodeId: string,
    private firstIndex: number,
    private lastIndex: number,
    private snapshotIndex: number,
    private snapshotChunks: number,
  ) {
    this.ctx = { nodeId, location };
  }

  static async open(dir: string, nodeId: string): Promise<RocksDbStorage> {
    const location = resolve(dir);
    mkdirSync(location, { recursive: true });
    const db = rocksdb(location);
    await call((cb) => db.open({ createIfMissing: true, errorIfExists: false }, cb));
    try {
      const ctx = { nodeId, location };
      const [metaValue] = await call<(Buffer | undefined)[]>((cb) =>
        db.getMany([SNAPSHOT_META_KEY], { asBuffer: true }, cb),
      );
      const stored = metaValue === undefined ? null : decodeSnapshotMeta(ctx, metaValue);
      const snapshotIndex = stored?.meta.index ?? 0;
      const first = await edgeLogIndex(db, ctx, false);
      const last = await edgeLogIndex(db, ctx, true);
      const empty = first === 0;
      if (!empty) checkLogBounds(ctx, first, last, snapshotIndex);
      return new RocksDbStorage(
        db,
        location,
        nodeId,
        empty ? snapshotIndex + 1 : first,
        empty ? snapshotIndex : last,
        snapshotIndex,
        stored?.chunkCount ?? 0,
      );
    } catch (err) {
      await call((cb) => db.close(cb));
      throw err;
    }
  }

  load(): Promise<PersistentState> {
    return this.enqueue(async () => {
      const [hardValue, metaValue] = await this.getMany([HARD_STATE_KEY, SNAPSHOT_META_KEY]);
      const hardState =
        hardValue === undefined ? EMPTY_HARD_STATE : decodeHardState(this.ctx, hardValue);
      const snapshot =
        metaValue === undefined
          ? null
          : await this.readChunks(decodeSnapshotMeta(this.ctx, metaValue));
      const snapshotIndex = snapshot?.meta.index ?? 0;
      const entries: Entry[] = [];
      // Index 0 is never stored, so it stands for "nothing seen yet".
      const seen = { first: 0, last: 0 };
      await this.scan(LOG_RANGE, (key, value) => {
        const entry = decodeEntry(this.ctx, key, value);
        if (seen.first === 0) {
          seen.first = entry.index;
        } else if (entry.index !== seen.last + 1) {
          this.corrupt(seen.last + 1, `log entry missing (next stored is ${entry.index})`);
        }
        seen.last = entry.index;
        if (entry.index > snapshotIndex) entries.push(entry);
      });
      if (seen.first !== 0) checkLogBounds(this.ctx, seen.first, seen.last, snapshotIndex);
      const lastStored = Math.max(snapshotIndex, seen.last);
      checkCommitStored(this.ctx.nodeId, this.location, hardState.commit, lastStored);
      return { hardState, snapshot, entries };
    });
  }

  save(batch: PersistBatch): Promise<void> {
    return this.submit(batch.sync ?? true, () => {
      const after = checkPersistBatch(batch, this.bounds());
      const ops: BatchOp[] = [];
      let first = this.firstIndex;
      let last = this.lastIndex;
      if (batch.snapshot !== undefined) {
        deleteLog(ops, first, last);
        this.snapshotChunks = putSnapshot(ops, batch.snapshot, this.snapshotChunks);
        first = batch.snapshot.meta.index + 1;
        last = batch.snapshot.meta.index;
      }
      const entries = batch.entries ?? [];
      const end = entries.at(-1)?.index;
      if (end !== undefined) {
        // Indexes up to `end` are overwritten by the puts; only a longer old suffix needs deletes.
        deleteLog(ops, Math.max(end + 1, first), last);
        for (const entry of entries) {
          const key = logKey(entry.index);
          ops.push({ type: 'put', key, value: encodeEntry(key, entry) });
        }
        last = end;
      }
      if (batch.hardState !== undefined) {
        ops.push({ type: 'put', key: HARD_STATE_KEY, value: encodeHardState(batch.hardState) });
      }
      this.firstIndex = first;
      this.lastIndex = last;
      this.snapshotIndex = after.snapshotIndex;
      return ops;
    });
  }

  saveSnapshot(snapshot: Snapshot, compactUpTo: number): Promise<void> {
    return this.submit(true, () => {
      checkLocalSnapshot(snapshot, compactUpTo, this.bounds());
      const ops: BatchOp[] = [];
      const index = snapshot.meta.index;
      this.snapshotChunks = putSnapshot(ops, snapshot, this.snapshotChunks);
      deleteLog(ops, this.firstIndex, Math.min(compactUpTo, this.lastIndex));
      if (compactUpTo >= this.lastIndex) {
        this.firstIndex = index + 1;
        this.lastIndex = index;
      } else {
        this.firstIndex = Math.max(this.firstIndex, compactUpTo + 1);
      }
      this.snapshotIndex = index;
      return ops;
    });
  }

  readSnapshot(): Promise<Snapshot | null> {
    return this.enqueue(async () => {
      const [metaValue] = await this.getMany([SNAPSHOT_META_KEY]);
      return metaValue === undefined
        ? null
        : this.readChunks(decodeSnapshotMeta(this.ctx, metaValue));
    });
  }

  close(): Promise<void> {
    this.closing ??= this.tail.then(() => call((cb) => this.db.close(cb)));
    return this.closing;
  }

  private bounds(): LogBounds {
    return { snapshotIndex: this.snapshotIndex, lastIndex: this.lastIndex };
  }

  /**
   * Plans a write now (validating it and encoding it into a batch against the state that all
   * earlier writes will leave, so later changes to the caller's objects cannot leak into it) and
   * issues it once the earlier ones are done.
   */
  private submit(sync: boolean, plan: () => BatchOp[]): Promise<void> {
    const refusal = this.refusal();
    if (refusal !== null) return Promise.reject(refusal);
    let ops: BatchOp[];
    try {
      ops = plan();
    } catch (err) {
      return Promise.reject(asError(err));
    }
    // An empty batch still waits its turn: promises resolve in call order.
    return this.enqueue(() => (ops.length === 0 ? Promise.resolve() : this.write(ops, sync)));
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const refusal = this.refusal();
    if (refusal !== null) return Promise.reject(refusal);
    const run = (): Promise<T> => (this.failure !== null ? Promise.reject(this.failure) : task());
    const result = this.tail.then(run, run);
    this.tail = ignoreRejection(result, 'its caller has the failure; the queue only keeps order');
    return result;
  }

  private refusal(): Error | null {
    if (this.closing !== null) return new Error(`storage of node ${this.ctx.nodeId} is closed`);
    return this.failure;
  }

  private corrupt(index: number | null, detail: string): never {
    throw new StorageCorruptionError(this.ctx.nodeId, this.location, index, detail);
  }

  /** RocksDB reports its own checksum failures as "Corruption: ..." errors. */
  private translate(err: unknown): Error {
    if (err instanceof Error && err.message.startsWith('Corruption')) {
      return new StorageCorruptionError(this.ctx.nodeId, this.location, null, err.message);
    }
    return asError(err);
  }

  private async write(ops: BatchOp[], sync: boolean): Promise<void> {
    try {
      await call((cb) => this.db.batch(ops, { sync }, cb));
    } catch (err) {
      // After a failed fsync the disk state is unknown and the bookkeeping planned for this
      // write is wrong: refuse all further work; the node must restart and load.
      const reason = this.translate(err);
      this.failure = new Error(`storage of node ${this.ctx.nodeId} failed a write`, {
        cause: reason,
      });
      throw reason;
    }
  }

  private async getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]> {
    try {
      return await call((cb) => this.db.getMany(keys, { asBuffer: true }, cb));
    } catch (err) {
      throw this.translate(err);
    }
  }

  private async scan(
    range: { gte: Buffer; lt: Buffer },
    visit: (key: Buffer, value: Buffer) => void,
  ): Promise<void> {
    try {
      await scan(this.db, range, visit);
    } catch (err) {
      throw this.translate(err);
    }
  }

  private async readChunks(stored: StoredSnapshotMeta): Promise<Snapshot> {
    const assembler = new StoredSnapshotAssembler(this.ctx, stored);
    await this.scan(SNAPSHOT_CHUNK_RANGE, (key, value) => assembler.add(key, value));
    return { meta: stored.meta, data: assembler.finish() };
  }
}

function scan(
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

/** The first (or, reversed, the last) stored log index, or 0 for an empty log. */
async function edgeLogIndex(
  db: RocksDb,
  ctx: CorruptionContext,
  reverse: boolean,
): Promise<number> {
  const found = { index: 0 };
  await scan(db, { ...LOG_RANGE, reverse, limit: 1, values: false, keys: true }, (key) => {
    found.index = decodeLogKey(ctx, key);
  });
  return found.index;
}

function checkLogBounds(
  ctx: CorruptionContext,
  first: number,
  last: number,
  snapshotIndex: number,
): void {
  if (first > snapshotIndex + 1) {
    const detail =
      snapshotIndex === 0
        ? `log starts at ${first} without a snapshot`
        : `log starts at ${first}, after snapshot index ${snapshotIndex}`;
    throw new StorageCorruptionError(ctx.nodeId, ctx.location, snapshotIndex + 1, detail);
  }
  if (last < snapshotIndex) {
    throw new StorageCorruptionError(
      ctx.nodeId,
      ctx.location,
      last + 1,
      `log ends at ${last}, before snapshot index ${snapshotIndex}`,
    );
  }
}

function deleteLog(ops: BatchOp[], from: number, to: number): void {
  for (let index = from; index <= to; index++) ops.push({ type: 'del', key: logKey(index) });
}

/** Adds the puts for `snapshot` and deletes of chunks the previous one had beyond them. */
function putSnapshot(ops: BatchOp[], snapshot: Snapshot, previousChunks: number): number {
  ops.push({
    type: 'put',
    key: SNAPSHOT_META_KEY,
    value: encodeSnapshotMeta(snapshot.meta, snapshot.data),
  });
  const chunks = snapshotChunkCount(snapshot.data.length);
  for (let chunk = 0; chunk < chunks; chunk++) {
    const key = snapshotChunkKey(chunk);
    ops.push({ type: 'put', key, value: encodeSnapshotChunk(key, snapshot.data, chunk) });
  }
  for (let chunk = chunks; chunk < previousChunks; chunk++) {
    ops.push({ type: 'del', key: snapshotChunkKey(chunk) });
  }
  return chunks;
}
