import type { PersistBatch, PersistentState, Storage } from '../storage.js';
import type { Entry, HardState, Snapshot } from '../types.js';
import { checkLocalSnapshot, checkPersistBatch, type LogBounds } from './validation.js';

const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };

function copyEntry(entry: Entry): Entry {
  return { index: entry.index, term: entry.term, type: entry.type, data: entry.data.slice() };
}

function copySnapshot(snapshot: Snapshot): Snapshot {
  return {
    meta: { index: snapshot.meta.index, term: snapshot.meta.term },
    data: snapshot.data.slice(),
  };
}

function copyBatch(batch: PersistBatch): PersistBatch {
  return {
    hardState: batch.hardState === undefined ? undefined : { ...batch.hardState },
    entries: batch.entries?.map(copyEntry),
    snapshot: batch.snapshot === undefined ? undefined : copySnapshot(batch.snapshot),
  };
}

/**
 * Completes a write begun with `beginSave`/`beginSaveSnapshot`: applies it to the durable state
 * and returns true, or returns false if `discardPendingWrites` (a crash) came first. Throws if
 * the write is invalid, or if an earlier begun write has not completed yet (a disk completes
 * writes in the order they were issued).
 */
export type CompleteWrite = () => boolean;

/**
 * In-memory Storage for the deterministic simulator. It models a disk on which only completed
 * writes survive a crash: a write reaches the durable state when it completes, never before.
 * Everything is copied on the way in and out, so a "crashed" node's structures never alias the
 * disk. No timers, clocks or randomness: the simulator decides when writes complete.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snapshot: Snapshot | null = null;
  /**
   * The stored log: contiguous, possibly keeping entries at or below the snapshot index that a
   * local compaction chose to retain (they are not returned by load, as with RocksDbStorage).
   */
  private log: Entry[] = [];
  private nextSequence = 0;
  private nextToComplete = 0;
  private epoch = 0;

  private bounds(): LogBounds {
    const snapshotIndex = this.snapshot?.meta.index ?? 0;
    const lastIndex = this.log.at(-1)?.index ?? snapshotIndex;
    return { snapshotIndex, lastIndex };
  }

  /** The state a node restarting now would find. */
  loadSync(): PersistentState {
    const snapshotIndex = this.snapshot?.meta.index ?? 0;
    return {
      hardState: { ...this.hardState },
      snapshot: this.snapshot === null ? null : copySnapshot(this.snapshot),
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
    return this.snapshot?.meta.index ?? 0;
  }

  /** Term of the durable entry at index (the snapshot's at its index), for checkers. */
  termAt(index: number): number | undefined {
    const snapshotIndex = this.snapshot?.meta.index ?? 0;
    if (index === snapshotIndex) return this.snapshot?.meta.term ?? 0;
    const first = this.log[0];
    if (index < snapshotIndex || first === undefined) return undefined;
    return this.log[index - first.index]?.term;
  }

  readSnapshotSync(): Snapshot | null {
    return this.snapshot === null ? null : copySnapshot(this.snapshot);
  }

  /** Applies a batch to the durable state at once, as a write that has just completed. */
  applyDurably(batch: PersistBatch): void {
    checkPersistBatch(batch, this.bounds());
    if (batch.snapshot !== undefined) {
      this.snapshot = copySnapshot(batch.snapshot);
      this.log = [];
    }
    const entries = batch.entries ?? [];
    const firstNew = entries[0];
    if (firstNew !== undefined) {
      const firstStored = this.log[0]?.index ?? firstNew.index;
      this.log.length = firstNew.index - firstStored;
      for (const entry of entries) this.log.push(copyEntry(entry));
    }
    if (batch.hardState !== undefined) this.hardState = { ...batch.hardState };
  }

  saveSnapshotSync(snapshot: Snapshot, compactUpTo: number): void {
    checkLocalSnapshot(snapshot, compactUpTo, this.bounds());
    this.snapshot = copySnapshot(snapshot);
    this.log = this.log.filter((e) => e.index > compactUpTo);
  }

  /** Starts a write; it becomes durable only when the returned function is called. */
  beginSave(batch: PersistBatch): CompleteWrite {
    const copy = copyBatch(batch);
    return this.begin(() => this.applyDurably(copy));
  }

  beginSaveSnapshot(snapshot: Snapshot, compactUpTo: number): CompleteWrite {
    const copy = copySnapshot(snapshot);
    return this.begin(() => this.saveSnapshotSync(copy, compactUpTo));
  }

  /** A crash: every begun but not completed write is lost. */
  discardPendingWrites(): void {
    this.epoch++;
    this.nextToComplete = this.nextSequence;
  }

  get pendingWrites(): number {
    return this.nextSequence - this.nextToComplete;
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
    return this.settle(this.beginSave(batch));
  }

  saveSnapshot(snapshot: Snapshot, compactUpTo: number): Promise<void> {
    return this.settle(this.beginSaveSnapshot(snapshot, compactUpTo));
  }

  readSnapshot(): Promise<Snapshot | null> {
    return Promise.resolve().then(() => this.readSnapshotSync());
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
