import type { PersistBatch, PersistentState, Storage } from '../storage.js';
import type { Entry, HardState, Snapshot, SnapshotData, SnapshotMeta } from '../types.js';
import {
  checkLocalSnapshot,
  checkPersistBatch,
  checkSnapshotMeta,
  InvalidWriteError,
  type LogBounds,
} from './validation.js';
import { asError } from '../../../common/src/errors.js';

const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };

/** A snapshot's chunks, under the id they were staged with. */
interface StoredSnapshot {
  readonly id: number;
  readonly meta: SnapshotMeta;
  readonly chunks: readonly Uint8Array[];
}

/** A batch as it will land: its snapshot resolved to the chunks staged for it. */
interface PlannedBatch {
  readonly hardState?: HardState;
  readonly entries?: readonly Entry[];
  readonly snapshot?: StoredSnapshot;
}

function copyEntry(entry: Entry): Entry {
  return { index: entry.index, term: entry.term, type: entry.type, data: entry.data.slice() };
}

const sumBytes = (chunks: readonly Uint8Array[]): number =>
  chunks.reduce((n, c) => n + c.length, 0);

/**
 * Completes a write begun with one of the `begin` methods: applies it to the durable state and
 * returns true, or returns false if `discardPendingWrites` (a crash) came first. Throws if the
 * write is invalid, or if an earlier begun write has not completed yet (a disk completes writes
 * in the order they were issued).
 */
export type CompleteWrite = () => boolean;

/**
 * In-memory Storage for tests and the deterministic simulator. It models a disk on which only
 * completed writes survive a crash: a write reaches the durable state when it completes, never
 * before. Snapshots are staged chunk by chunk, each chunk a write of its own, and become the
 * stored snapshot with one more write, as on RocksDbStorage. Everything is copied on the way in
 * and out, so a "crashed" node's structures never alias the disk. No timers, clocks or
 * randomness: the simulator decides when writes complete.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private current: StoredSnapshot | null = null;
  /**
   * The stored log: contiguous, possibly keeping entries at or below the snapshot index that a
   * local compaction chose to retain (they are not returned by load, as with RocksDbStorage).
   */
  private log: Entry[] = [];
  /** Durable chunks of snapshots being written or received, by id: invisible to load. */
  private readonly staging = new Map<number, Uint8Array[]>();
  /** Received snapshots, all chunks written, until installed or discarded. */
  private readonly received = new Map<SnapshotData, StoredSnapshot>();
  private nextSnapshotId = 1;
  private nextSequence = 0;
  private nextToComplete = 0;
  private epoch = 0;

  private bounds(): LogBounds {
    const snapshotIndex = this.current?.meta.index ?? 0;
    const lastIndex = this.log.length === 0 ? snapshotIndex : this.log[this.log.length - 1]!.index;
    return { snapshotIndex, lastIndex };
  }

  /** The state a node restarting now would find. */
  loadSync(): PersistentState {
    const snapshotIndex = this.current?.meta.index ?? 0;
    return {
      hardState: { ...this.hardState },
      snapshot: this.readSnapshotSync(),
      entries: this.log.filter((e) => e.index > snapshotIndex).map(copyEntry),
    };
  }

  /** The durable hard state, for checkers and fault injection. */
  hardStateSync(): HardState {
    return { ...this.hardState };
  }

  /** Index of the last durable entry (the snapshot's index for an empty log), for checkers. */
  lastIndex(): number {
    return this.bounds().lastIndex;
  }

  /** Index of the durable snapshot (0 without one), for checkers. */
  snapshotIndex(): number {
    return this.current?.meta.index ?? 0;
  }

  /** Term of the durable entry at index (the snapshot's at its index), for checkers. */
  termAt(index: number): number | undefined {
    const snapshotIndex = this.snapshotIndex();
    if (index === snapshotIndex) return this.current?.meta.term ?? 0;
    if (index < snapshotIndex || this.log.length === 0) return undefined;
    return this.log[index - this.log[0]!.index]?.term;
  }

  readSnapshotSync(): Snapshot | null {
    const s = this.current;
    return s === null ? null : { meta: { ...s.meta }, data: this.dataOf(s) };
  }

  /** Chunks staged so far and not yet stored, installed or deleted (for tests and checkers). */
  get stagedSnapshots(): number {
    return this.staging.size;
  }

  /** Applies a batch to the durable state at once, as a write that has just completed. */
  applyDurably(batch: PersistBatch): void {
    checkPersistBatch(batch, this.bounds());
    this.land(this.plan(batch));
  }

  /** Stages a whole received snapshot at once; see receiveSnapshot. */
  receiveSnapshotSync(meta: SnapshotMeta, chunks: Iterable<Uint8Array>): SnapshotData {
    checkSnapshotMeta(meta);
    const id = this.openStaging();
    const copies = [...chunks].filter((c) => c.length > 0).map((c) => c.slice());
    this.staging.get(id)!.push(...copies);
    return this.registerReceived(id, meta, copies);
  }

  /** Stores a local snapshot at once; see saveSnapshot. */
  saveSnapshotSync(meta: SnapshotMeta, chunks: Iterable<Uint8Array>, compactUpTo: number): boolean {
    checkSnapshotMeta(meta);
    if (meta.index < this.snapshotIndex()) return false;
    checkLocalSnapshot(meta, compactUpTo, this.bounds());
    const id = this.openStaging();
    const copies = [...chunks].filter((c) => c.length > 0).map((c) => c.slice());
    this.staging.get(id)!.push(...copies);
    this.storeLocal({ id, meta: { ...meta }, chunks: copies }, compactUpTo);
    return true;
  }

  discardSnapshotSync(data: SnapshotData): void {
    const r = this.received.get(data);
    if (r === undefined) return;
    this.received.delete(data);
    this.staging.delete(r.id);
  }

  // ---- the crash model -------------------------------------------------------------------------

  /** Starts staging a snapshot's chunks under a new id. */
  openStaging(): number {
    const id = this.nextSnapshotId++;
    this.staging.set(id, []);
    return id;
  }

  /** Starts writing one staged chunk (a copy is taken now); durable when complete() runs. */
  beginStageChunk(id: number, chunk: Uint8Array): { copy: Uint8Array; complete: CompleteWrite } {
    const copy = chunk.slice();
    // A chunk of staging dropped meanwhile (discarded, or forgotten by a restart) is not kept.
    return { copy, complete: this.begin(() => this.staging.get(id)?.push(copy)) };
  }

  /** Deletes what was staged under id (staged data is invisible: no write needed). */
  dropStaging(id: number): void {
    this.staging.delete(id);
  }

  /** A received snapshot whose chunks were all issued: its data, for a save() batch to carry. */
  registerReceived(id: number, meta: SnapshotMeta, chunks: readonly Uint8Array[]): SnapshotData {
    if (!this.staging.has(id)) throw new Error(`staged snapshot ${id} was deleted while received`);
    const stored: StoredSnapshot = { id, meta: { ...meta }, chunks };
    const data = this.dataOf(stored);
    this.received.set(data, stored);
    return data;
  }

  /** Starts a write; it becomes durable only when the returned function is called. */
  beginSave(batch: PersistBatch): CompleteWrite {
    const planned = this.plan(batch);
    return this.begin(() => this.land(planned));
  }

  /**
   * Starts the write that makes staged chunks the stored snapshot and compacts the log. When it
   * lands after a newer snapshot (a received one) it stores nothing and drops the chunks;
   * `stored` then says false.
   */
  beginCommitSnapshot(
    id: number,
    meta: SnapshotMeta,
    compactUpTo: number,
    chunks: readonly Uint8Array[],
  ): { complete: CompleteWrite; stored: () => boolean } {
    let stored = false;
    const complete = this.begin(() => {
      if (meta.index < this.snapshotIndex()) return this.dropStaging(id);
      this.storeLocal({ id, meta: { ...meta }, chunks }, compactUpTo);
      stored = true;
    });
    return { complete, stored: () => stored };
  }

  /** A crash: every begun but not completed write is lost. */
  discardPendingWrites(): void {
    this.epoch++;
    this.nextToComplete = this.nextSequence;
  }

  /**
   * A restart: staged chunks and received snapshots not installed are garbage now, and deleted
   * (RocksDbStorage.open does the same).
   */
  collectGarbage(): void {
    this.staging.clear();
    this.received.clear();
  }

  get pendingWrites(): number {
    return this.nextSequence - this.nextToComplete;
  }

  private dataOf(stored: StoredSnapshot): SnapshotData {
    const live = (): boolean => this.current?.id === stored.id || this.staging.has(stored.id);
    return {
      bytes: sumBytes(stored.chunks),
      chunks: async function* () {
        if (!live()) throw new Error(`snapshot ${stored.meta.index} is no longer stored`);
        for (const c of stored.chunks) yield c.slice();
      },
    };
  }

  /**
   * Copies the batch and resolves its snapshot's data to the chunks received for it, claiming
   * them: no other batch can install them, nor garbage collection delete them.
   */
  private plan(batch: PersistBatch): PlannedBatch {
    let snapshot: StoredSnapshot | undefined;
    if (batch.snapshot !== undefined) {
      snapshot = this.received.get(batch.snapshot.data);
      if (snapshot === undefined) {
        throw new InvalidWriteError('snapshot data was not received by this storage');
      }
      const { index, term } = batch.snapshot.meta;
      if (snapshot.meta.index !== index || snapshot.meta.term !== term) {
        throw new InvalidWriteError(`snapshot ${index}/${term} carries data received for another`);
      }
      this.received.delete(batch.snapshot.data);
    }
    return {
      hardState: batch.hardState === undefined ? undefined : { ...batch.hardState },
      entries: batch.entries?.map(copyEntry),
      snapshot,
    };
  }

  private storeLocal(stored: StoredSnapshot, compactUpTo: number): void {
    try {
      checkLocalSnapshot(stored.meta, compactUpTo, this.bounds());
    } catch (err) {
      this.dropStaging(stored.id);
      throw err;
    }
    this.install(stored);
    this.log = this.log.filter((e) => e.index > compactUpTo);
  }

  private land(batch: PlannedBatch): void {
    try {
      checkPersistBatch(batch, this.bounds());
    } catch (err) {
      if (batch.snapshot !== undefined) this.dropStaging(batch.snapshot.id);
      throw err;
    }
    if (batch.snapshot !== undefined) {
      this.install(batch.snapshot);
      this.log = [];
    }
    const entries = batch.entries ?? [];
    if (entries.length > 0) {
      const firstStored = this.log.length === 0 ? entries[0]!.index : this.log[0]!.index;
      this.log.length = entries[0]!.index - firstStored;
      for (const entry of entries) this.log.push(copyEntry(entry));
    }
    if (batch.hardState !== undefined) this.hardState = { ...batch.hardState };
  }

  private install(stored: StoredSnapshot): void {
    const landed = this.staging.get(stored.id);
    // Chunks are written before the write that stores them, and writes land in order.
    if (landed === undefined || landed.length !== stored.chunks.length) {
      throw new Error(`MemoryStorage: snapshot ${stored.meta.index} stored before its chunks`);
    }
    this.staging.delete(stored.id);
    this.current = { id: stored.id, meta: stored.meta, chunks: landed };
    // Received snapshots no newer can never be installed: the core only takes one past its
    // commit index, which is at least this one's.
    for (const [data, r] of this.received) {
      if (r.meta.index > stored.meta.index) continue;
      this.received.delete(data);
      this.staging.delete(r.id);
    }
  }

  private begin(apply: () => void): CompleteWrite {
    const sequence = this.nextSequence++;
    const epoch = this.epoch;
    let done = false;
    return () => {
      if (epoch !== this.epoch) return false;
      if (done) throw new Error('MemoryStorage: write completed twice');
      if (sequence !== this.nextToComplete) {
        throw new Error(
          `MemoryStorage: write ${sequence} completed before write ${this.nextToComplete}`,
        );
      }
      done = true;
      this.nextToComplete++;
      apply();
      return true;
    };
  }

  /**
   * A write discarded by a crash never settles: the crashed process must not observe an outcome.
   */
  private settle(complete: CompleteWrite): Promise<void> {
    return Promise.resolve().then(() => {
      if (!complete()) return new Promise<void>(() => undefined);
    });
  }

  load(): Promise<PersistentState> {
    return Promise.resolve().then(() => this.loadSync());
  }

  save(batch: PersistBatch): Promise<void> {
    try {
      return this.settle(this.beginSave(batch));
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  async saveSnapshot(
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
    compactUpTo: number,
  ): Promise<boolean> {
    checkSnapshotMeta(meta);
    if (meta.index < this.snapshotIndex()) return false;
    const id = this.openStaging();
    const staged = await stageChunks(this, id, chunks, (c) => this.settle(c));
    const commit = this.beginCommitSnapshot(id, meta, compactUpTo, staged);
    await this.settle(commit.complete);
    return commit.stored();
  }

  async receiveSnapshot(
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<SnapshotData> {
    checkSnapshotMeta(meta);
    const id = this.openStaging();
    const staged = await stageChunks(this, id, chunks, (c) => this.settle(c));
    return this.registerReceived(id, meta, staged);
  }

  async discardSnapshot(data: SnapshotData): Promise<void> {
    this.discardSnapshotSync(data);
  }

  readSnapshot(): Promise<Snapshot | null> {
    return Promise.resolve().then(() => this.readSnapshotSync());
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Stages each chunk of `source` under id in `mem`, issuing one write per chunk through `write`
 * (which resolves when the next may follow) and pulling the next chunk only then. If the source
 * throws, what was staged is dropped and the error rethrown. Returns the staged chunks.
 */
export async function stageChunks(
  mem: MemoryStorage,
  id: number,
  source: AsyncIterable<Uint8Array>,
  write: (complete: CompleteWrite, bytes: number) => Promise<void>,
): Promise<Uint8Array[]> {
  const staged: Uint8Array[] = [];
  try {
    for await (const chunk of source) {
      if (chunk.length === 0) continue;
      const { copy, complete } = mem.beginStageChunk(id, chunk);
      staged.push(copy);
      await write(complete, copy.length);
    }
  } catch (err) {
    mem.dropStaging(id);
    throw err;
  }
  return staged;
}
