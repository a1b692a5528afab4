import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { rechunk } from '../snapshot-stream.js';
import {
  checkCommitStored,
  StorageCorruptionError,
  type PersistBatch,
  type PersistentState,
  type Storage,
} from '../storage.js';
import type { Entry, HardState, Snapshot, SnapshotData, SnapshotMeta } from '../types.js';
import {
  HARD_STATE_KEY,
  LEGACY_SNAPSHOT_CHUNK_RANGE,
  LOG_RANGE,
  SNAPSHOT_CHUNK_RANGE,
  SNAPSHOT_CHUNK_SIZE,
  SNAPSHOT_META_KEY,
  SnapshotChunkReader,
  decodeEntry,
  decodeHardState,
  decodeLogKey,
  decodeSnapshotChunkId,
  decodeSnapshotMeta,
  encodeEntry,
  encodeHardState,
  encodeSnapshotChunk,
  encodeSnapshotMeta,
  logKey,
  snapshotChunkKey,
  snapshotChunkRange,
  type CorruptionContext,
  type StoredSnapshotMeta,
} from './rocksdb-format.js';
import {
  call,
  EntryCursor,
  rocksdb,
  SCAN_HIGH_WATER_MARK,
  scan,
  type BatchOp,
  type RocksDb,
} from './rocksdb-binding.js';
import {
  checkLocalSnapshot,
  checkPersistBatch,
  checkSnapshotMeta,
  InvalidWriteError,
  type LogBounds,
} from './validation.js';
import { asError } from '../../../common/src/errors.js';
import { ignoreRejection } from '../../../common/src/ignore.js';

const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };

/**
 * Raft storage on RocksDB. Each write is one atomic, fsynced WriteBatch. Writes and reads are
 * run one at a time in call order: the binding runs batches on the libuv thread pool, where two
 * in flight at once could land in either order. The log bounds are kept in memory so that a
 * write never has to read first.
 *
 * Snapshots are written chunk by chunk under a fresh id (unsynced writes, queued between the
 * others), and become the stored snapshot with one synced batch that rewrites the meta record
 * to name the new id and deletes the previous snapshot's chunks; the log entries it covers are
 * deleted next, off the event loop (clearLog). The WAL replays a prefix of the writes after a
 * crash, so that batch is never durable without the chunks before it; and without it, the
 * previous snapshot is untouched. Chunks of any id but the stored one's are garbage at start-up
 * (a save or a receive cut short) and deleted then.
 *
 * Invariant kept by every write (a compaction's once it is done) and checked at start-up: the
 * stored log keys are exactly firstIndex..lastIndex; when the log is empty, firstIndex =
 * snapshotIndex + 1 and lastIndex = snapshotIndex; otherwise firstIndex <= snapshotIndex + 1 <=
 * lastIndex + 1.
 */
export class RocksDbStorage implements Storage {
  private readonly ctx: CorruptionContext;
  private tail: Promise<unknown> = Promise.resolve();
  private failure: Error | null = null;
  private closing: Promise<void> | null = null;
  /** Received snapshots, all chunks written, until installed or discarded. */
  private readonly received = new Map<SnapshotData, StoredSnapshotMeta>();
  /** Snapshot reads in progress, ended at close. */
  private readonly cursors = new Set<EntryCursor>();
  /** Compactions of the log, one after another, beside the queue (clearLog). */
  private clearing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: RocksDb,
    private readonly location: string,
    nodeId: string,
    private firstIndex: number,
    private lastIndex: number,
    /** The stored snapshot once the writes issued so far are done. */
    private current: StoredSnapshotMeta | null,
    private nextSnapshotId: number,
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
      const maxId = await collectSnapshotGarbage(db, ctx, stored);
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
        stored,
        maxId + 1,
      );
    } catch (err) {
      await call((cb) => db.close(cb));
      throw err;
    }
  }

  load(): Promise<PersistentState> {
    return this.enqueue(async () => {
      const [hardValue] = await this.getMany([HARD_STATE_KEY]);
      const hardState =
        hardValue === undefined ? EMPTY_HARD_STATE : decodeHardState(this.ctx, hardValue);
      const snapshot = this.current === null ? null : this.snapshotOf(this.current);
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
    let clearing: Promise<void> | undefined;
    const plan = (): BatchOp[] => {
      checkPersistBatch(batch, this.bounds());
      const installing = batch.snapshot && this.receivedFor(batch.snapshot);
      const ops: BatchOp[] = [];
      let first = this.firstIndex;
      let last = this.lastIndex;
      if (installing !== undefined) {
        // This batch deletes the whole log: a compaction still clearing below it must finish
        // first, or a crash could leave a gap in the stored log. Only those planned before it:
        // a later one waits for this batch in the queue.
        clearing = this.clearing;
        deleteLog(ops, first, last);
        this.putSnapshot(ops, installing);
        first = installing.meta.index + 1;
        last = installing.meta.index;
      }
      const entries = batch.entries ?? [];
      if (entries.length > 0) {
        const end = entries[entries.length - 1]!.index;
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
      return ops;
    };
    return this.submit(batch.sync ?? true, plan, () => clearing ?? Promise.resolve());
  }

  async saveSnapshot(
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
    compactUpTo: number,
  ): Promise<boolean> {
    const refusal = this.refusal();
    if (refusal !== null) throw refusal;
    checkSnapshotMeta(meta);
    if (meta.index < this.snapshotIndex) return false;
    checkLocalSnapshot(meta, compactUpTo, this.bounds());
    const staged = await this.stage(meta, chunks);
    let stored = false;
    let planned = false;
    let compacted: { from: number; to: number } | undefined;
    try {
      const storing = this.submit(true, () => {
        const ops: BatchOp[] = [];
        if (meta.index < this.snapshotIndex) {
          // A snapshot received from the leader was stored meanwhile: this one is older.
          deleteChunks(ops, staged);
        } else {
          checkLocalSnapshot(meta, compactUpTo, this.bounds());
          this.putSnapshot(ops, staged);
          compacted = { from: this.firstIndex, to: Math.min(compactUpTo, this.lastIndex) };
          if (compactUpTo >= this.lastIndex) {
            this.firstIndex = meta.index + 1;
            this.lastIndex = meta.index;
          } else {
            this.firstIndex = Math.max(this.firstIndex, compactUpTo + 1);
          }
          stored = true;
        }
        planned = true;
        return ops;
      });
      // Before awaiting: its start is queued right behind the snapshot's batch.
      if (compacted !== undefined) this.clearLog(compacted.from, compacted.to);
      await storing;
    } catch (err) {
      // Unless a batch now owns them (it stores or deletes them), the chunks are garbage.
      if (!planned) void this.dropStaged(staged);
      throw err;
    }
    return stored;
  }

  async receiveSnapshot(
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<SnapshotData> {
    const refusal = this.refusal();
    if (refusal !== null) throw refusal;
    checkSnapshotMeta(meta);
    const staged = await this.stage(meta, chunks);
    const data = this.dataOf(staged);
    this.received.set(data, staged);
    return data;
  }

  discardSnapshot(data: SnapshotData): Promise<void> {
    const r = this.received.get(data);
    if (r === undefined) return Promise.resolve();
    this.received.delete(data);
    return this.dropStaged(r);
  }

  readSnapshot(): Promise<Snapshot | null> {
    return this.enqueue(async () => (this.current === null ? null : this.snapshotOf(this.current)));
  }

  close(): Promise<void> {
    this.closing ??= Promise.all([...this.cursors].map((c) => c.end()))
      .then(() => this.tail)
      .then(() => this.clearing)
      .then(() => call((cb) => this.db.close(cb)));
    return this.closing;
  }

  private get snapshotIndex(): number {
    return this.current?.meta.index ?? 0;
  }

  private bounds(): LogBounds {
    return { snapshotIndex: this.snapshotIndex, lastIndex: this.lastIndex };
  }

  private snapshotOf(stored: StoredSnapshotMeta): Snapshot {
    return { meta: { ...stored.meta }, data: this.dataOf(stored) };
  }

  private dataOf(stored: StoredSnapshotMeta): SnapshotData {
    return { bytes: stored.dataLength, chunks: () => this.readChunks(stored) };
  }

  private receivedFor(snapshot: Snapshot): StoredSnapshotMeta {
    const staged = this.received.get(snapshot.data);
    if (staged === undefined) {
      throw new InvalidWriteError('snapshot data was not received by this storage');
    }
    const { index, term } = snapshot.meta;
    if (staged.meta.index !== index || staged.meta.term !== term) {
      throw new InvalidWriteError(`snapshot ${index}/${term} carries data received for another`);
    }
    return staged;
  }

  /**
   * Adds the meta record naming `stored` and the deletes of the chunks it makes garbage: the
   * previous snapshot's, and those of received snapshots no newer (the core only installs one
   * past its commit index, which is at least this one's).
   */
  private putSnapshot(ops: BatchOp[], stored: StoredSnapshotMeta): void {
    ops.push({ type: 'put', key: SNAPSHOT_META_KEY, value: encodeSnapshotMeta(stored) });
    if (this.current !== null && this.current.id !== stored.id) deleteChunks(ops, this.current);
    for (const [data, r] of this.received) {
      if (r.id !== stored.id && r.meta.index > stored.meta.index) continue;
      if (r.id !== stored.id) deleteChunks(ops, r);
      this.received.delete(data);
    }
    this.current = stored;
  }

  /** Writes chunks under a new id, one unsynced write each, pulling the next once written. */
  private async stage(
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<StoredSnapshotMeta> {
    const id = this.nextSnapshotId++;
    let chunkCount = 0;
    let dataLength = 0;
    let dataCrc = 0;
    try {
      for await (const piece of rechunk(chunks, SNAPSHOT_CHUNK_SIZE)) {
        const key = snapshotChunkKey(id, chunkCount);
        const value = encodeSnapshotChunk(key, piece);
        dataCrc = crc32c(piece, dataCrc);
        dataLength += piece.length;
        chunkCount++;
        await this.enqueue(() => this.write([{ type: 'put', key, value }], false));
      }
    } catch (err) {
      void this.dropStaged({ meta, id, dataLength, chunkCount, dataCrc });
      throw err;
    }
    return { meta: { ...meta }, id, dataLength, chunkCount, dataCrc };
  }

  /** Deletes staged chunks; best effort: what remains is deleted at the next start-up. */
  private dropStaged(stored: StoredSnapshotMeta): Promise<void> {
    if (this.refusal() !== null) return Promise.resolve();
    const dropped = this.submit(false, () => {
      const ops: BatchOp[] = [];
      deleteChunks(ops, stored);
      return ops;
    });
    return ignoreRejection(dropped, 'staged chunks left behind are deleted at start-up').then(
      () => undefined,
    );
  }

  private isLive(id: number): boolean {
    if (this.current?.id === id) return true;
    for (const r of this.received.values()) if (r.id === id) return true;
    return false;
  }

  /**
   * Reads one snapshot's chunks, checking them. The iterator reads from the database as it was
   * when the read started, so chunks deleted meanwhile (a newer snapshot stored) stay readable.
   */
  private async *readChunks(stored: StoredSnapshotMeta): AsyncGenerator<Uint8Array> {
    const refusal = this.refusal();
    if (refusal !== null) throw refusal;
    if (!this.isLive(stored.id)) {
      throw new Error(
        `snapshot at index ${stored.meta.index} on node ${this.ctx.nodeId} is no longer stored`,
      );
    }
    const range = snapshotChunkRange(stored.id);
    const cursor = new EntryCursor(
      this.db.iterator({ ...range, highWaterMark: SCAN_HIGH_WATER_MARK }),
    );
    this.cursors.add(cursor);
    const reader = new SnapshotChunkReader(this.ctx, stored);
    try {
      for (;;) {
        const entry = await cursor.next().catch((err: unknown) => {
          throw this.closing !== null ? new Error('storage closed during a read') : err;
        });
        if (entry === null) break;
        yield reader.next(entry[0], entry[1]);
      }
      reader.finish();
    } catch (err) {
      throw this.translate(err);
    } finally {
      this.cursors.delete(cursor);
      await cursor.end();
    }
  }

  /**
   * Plans a write now (validating it and encoding it into a batch against the state that all
   * earlier writes will leave, so later changes to the caller's objects cannot leak into it) and
   * issues it once the earlier ones are done.
   */
  /** Plans a batch now and writes it in its turn; `after`, if given, is awaited in that turn. */
  private submit(sync: boolean, plan: () => BatchOp[], after?: () => Promise<void>): Promise<void> {
    const refusal = this.refusal();
    if (refusal !== null) return Promise.reject(refusal);
    let ops: BatchOp[];
    try {
      ops = plan();
    } catch (err) {
      return Promise.reject(asError(err));
    }
    // An empty batch still waits its turn: promises resolve in call order.
    return this.enqueue(async () => {
      await after?.();
      if (ops.length > 0) await this.write(ops, sync);
    });
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const refusal = this.refusal();
    if (refusal !== null) return Promise.reject(refusal);
    const run = (): Promise<T> => (this.failure !== null ? Promise.reject(this.failure) : task());
    const result = this.tail.then(run, run);
    // The caller observes the failure through `result`; the queue only waits for its turn.
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
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
  private translate(err: unknown): unknown {
    if (err instanceof Error && err.message.startsWith('Corruption')) {
      return new StorageCorruptionError(this.ctx.nodeId, this.location, null, err.message);
    }
    return err;
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

  /**
   * Deletes log entries that a stored snapshot covers, on the thread pool: in the snapshot's
   * batch, a delete apiece cost the event loop a quarter second at 400,000 entries. It starts
   * once that batch is written, and runs beside later writes rather than in the queue, which
   * it would hold for as long (about 230 ms at 400,000). It need not be atomic, nor ordered with
   * them: no later write touches these keys (they are at or below a stored snapshot), and the
   * deletes go in index order, so a crash leaves the last of them still stored, next to the
   * entries kept and below the snapshot's index. Start-up takes the log to begin there (the
   * bounds checked there allow it), and the next compaction deletes them.
   */
  private clearLog(from: number, to: number): void {
    if (to < from) return;
    const written = this.enqueue(() => Promise.resolve());
    this.clearing = Promise.all([this.clearing, written]).then(
      async () => {
        // A close waits for it: the entries are not left for the next start-up to find.
        if (this.failure !== null) return;
        try {
          await call((cb) => this.db.clear({ gte: logKey(from), lte: logKey(to) }, cb));
        } catch (err) {
          this.failure ??= new Error(`storage of node ${this.ctx.nodeId} failed a compaction`, {
            cause: this.translate(err),
          });
        }
      },
      // The snapshot's batch failed: the storage refuses everything now.
      () => undefined,
    );
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
}

/**
 * Deletes the chunks of every snapshot but the stored one (left by a save or a receive that a
 * crash cut short), checks that the stored one has all its chunks, and returns the largest
 * snapshot id in use, so that new ids never reuse an old one.
 */
async function collectSnapshotGarbage(
  db: RocksDb,
  ctx: CorruptionContext,
  stored: StoredSnapshotMeta | null,
): Promise<number> {
  const garbage: BatchOp[] = [];
  let maxId = stored?.id ?? 0;
  let storedChunks = 0;
  const keysOnly = { values: false, keys: true };
  await scan(db, { ...SNAPSHOT_CHUNK_RANGE, ...keysOnly }, (key) => {
    const id = decodeSnapshotChunkId(ctx, key);
    maxId = Math.max(maxId, id);
    if (id === stored?.id) storedChunks++;
    else garbage.push({ type: 'del', key });
  });
  await scan(db, { ...LEGACY_SNAPSHOT_CHUNK_RANGE, ...keysOnly }, (key) => {
    if (stored?.id === 0) storedChunks++;
    else garbage.push({ type: 'del', key });
  });
  if (stored !== null && storedChunks !== stored.chunkCount) {
    throw new StorageCorruptionError(
      ctx.nodeId,
      ctx.location,
      null,
      `snapshot at index ${stored.meta.index} has ${storedChunks} of its ${stored.chunkCount} chunks`,
    );
  }
  if (garbage.length > 0) await call((cb) => db.batch(garbage, { sync: false }, cb));
  return maxId;
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

function deleteChunks(ops: BatchOp[], stored: StoredSnapshotMeta): void {
  for (let chunk = 0; chunk < stored.chunkCount; chunk++) {
    ops.push({ type: 'del', key: snapshotChunkKey(stored.id, chunk) });
  }
}
