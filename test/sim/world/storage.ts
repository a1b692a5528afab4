// libs/raft's Storage port on a simulated disk: writes take time, and a crash loses the writes
// still in flight (or completes some of them without the process ever learning it).
import {
  type HardState,
  MemoryStorage,
  type PersistBatch,
  type PersistentState,
  type Snapshot,
  type SnapshotData,
  type SnapshotMeta,
  type Storage,
} from '../../../libs/raft/src/index.js';
import { type CompleteWrite, stageChunks } from '../../../libs/raft/src/storage/memory-storage.js';
import type { SimHost } from './host.js';
import type { SimWorld } from './world.js';
import { asError } from '../../../libs/common/src/errors.js';

// Bound once: global lookups are slow in Jest's vm context (see world.ts).
const { max } = Math;
const Prom = Promise;

export interface DiskPolicy {
  /** Latency of a synced write (fsync), uniform in [minDelayMs, maxDelayMs] of world time. */
  minDelayMs: number;
  maxDelayMs: number;
  /**
   * At a crash, each write in flight, oldest first, completed anyway with this probability (the
   * fsync finished just before the process died): durable, but never acknowledged.
   */
  crashCompletes: number;
  /** An unsynced write no synced one followed lands after this long (the kernel's writeback). */
  writebackMs: number;
}

export const fastDisk: DiskPolicy = {
  minDelayMs: 0.1,
  maxDelayMs: 1,
  crashCompletes: 0.3,
  writebackMs: 5000,
};
export const slowDisk: DiskPolicy = { ...fastDisk, minDelayMs: 20, maxDelayMs: 100 };

/**
 * A write as it reached the durable state, for checkers reading the disk: a Ready's batch, one
 * chunk of a snapshot being saved or received (invisible until stored), or the write that makes
 * a local snapshot the stored one.
 */
export type DurableWrite =
  | { kind: 'save'; batch: PersistBatch }
  | { kind: 'snapshotChunk'; id: number; bytes: number; received: boolean }
  | { kind: 'snapshot'; meta: SnapshotMeta; compactUpTo: number; bytes: number };

export interface CrashTrigger {
  /** Which write to crash during, given the durable hard state before it; any if absent. */
  readonly match?: (w: DurableWrite, durable: HardState) => boolean;
  readonly crash: () => void;
}

interface InFlight {
  complete: CompleteWrite;
  write: DurableWrite;
  sync: boolean;
}

/**
 * One machine's disk, outliving the processes that use it: the durable state is a MemoryStorage
 * in which a write lands only when it completes. Writes complete in issue order. An unsynced
 * write (commit index only) completes with the next synced one, so a crash can lose it.
 */
export class SimDisk {
  readonly mem = new MemoryStorage();
  policy: DiskPolicy;
  /** Called each time a write became durable (the durable state is then readable in mem). */
  onDurable: ((w: DurableWrite) => void) | undefined;
  /**
   * A fault: `crash` runs, as a world event, at a random moment while the next write that
   * `match` accepts (any write by default) is in flight: synced, before it lands; unsynced,
   * within one fsync delay, when it was acknowledged but is not durable.
   */
  crashDuringNextWrite: CrashTrigger | null = null;
  readonly stats = { writes: 0, synced: 0, lostInCrash: 0, completedInCrash: 0 };
  private inFlight: InFlight[] = [];
  private lastDoneAt = 0;

  constructor(
    readonly world: SimWorld,
    policy: Partial<DiskPolicy> = {},
  ) {
    this.policy = { ...fastDisk, ...policy };
  }

  /** The Storage a process (one incarnation of the host) sees; its crash crashes the disk. */
  storage(host: SimHost): SimStorage {
    host.onCrash(() => this.crash());
    return new SimStorage(host, this);
  }

  get pendingWrites(): number {
    return this.inFlight.length;
  }

  /**
   * Issues a write; resolves on host once durable. Unsynced writes resolve at once (next turn)
   * and become durable with the next synced write, or by writeback after writebackMs.
   */
  write(host: SimHost, write: DurableWrite, complete: CompleteWrite, sync: boolean): Promise<void> {
    this.stats.writes++;
    const w = this.world;
    const entry: InFlight = { complete, write, sync };
    this.inFlight.push(entry);
    // Until an unsynced write lands, a crash loses it: the window a crash trigger aims at.
    const doneAt = sync
      ? max(this.lastDoneAt, w.now + w.between(this.policy.minDelayMs, this.policy.maxDelayMs))
      : w.now + this.policy.maxDelayMs;
    const trigger = this.crashDuringNextWrite;
    if (trigger && (trigger.match?.(write, this.mem.hardStateSync()) ?? true)) {
      this.crashDuringNextWrite = null;
      // The most dangerous moment: messages are out (a leader's appends, or a reply sent too
      // early), the write not yet durable.
      w.at(w.now + w.rand() * (doneAt - w.now), trigger.crash);
    }
    if (!sync) {
      const writeback = () => {
        const k = this.inFlight.indexOf(entry);
        if (k < 0) return; // landed with a synced write, or lost in a crash
        // Not ahead of a synced write still in flight: writes land in issue order.
        if (this.inFlight.slice(0, k).some((e) => e.sync))
          w.schedule(this.policy.writebackMs, writeback);
        else this.completeThrough(entry);
      };
      w.schedule(this.policy.writebackMs, writeback);
      return new Prom((resolve) => host.soon(resolve));
    }
    this.stats.synced++;
    this.lastDoneAt = doneAt;
    return new Prom((resolve) => {
      w.at(doneAt, () => {
        if (!this.completeThrough(entry)) return;
        host.run(resolve);
      });
    });
  }

  /** A process crash: writes in flight are lost, except a random prefix that completed. */
  crash(): void {
    if (this.inFlight.length === 0) return;
    let completed = 0;
    while (completed < this.inFlight.length && this.world.chance(this.policy.crashCompletes)) {
      this.land(this.inFlight[completed]!); // completed < length, checked above
      completed++;
    }
    this.stats.completedInCrash += completed;
    this.stats.lostInCrash += this.inFlight.length - completed;
    this.world.trace(
      `disk crash: ${completed} in-flight writes completed, ${this.inFlight.length - completed} lost`,
    );
    this.inFlight = [];
    this.mem.discardPendingWrites();
  }

  /** Lands every write up to and including entry; false if a crash discarded it first. */
  private completeThrough(entry: InFlight): boolean {
    const k = this.inFlight.indexOf(entry);
    if (k < 0) return false;
    for (const e of this.inFlight.slice(0, k + 1)) this.land(e);
    this.inFlight.splice(0, k + 1);
    return true;
  }

  private land(e: InFlight): void {
    if (!e.complete()) throw new Error('SimDisk: a write in flight was discarded by the storage');
    this.onDurable?.(e.write);
  }
}

/**
 * The Storage port of one process on a SimDisk. Every answer comes back on the process's
 * runtime, so a crashed process never learns the outcome of its writes.
 */
export class SimStorage implements Storage {
  constructor(
    private readonly host: SimHost,
    readonly disk: SimDisk,
  ) {}

  load(): Promise<PersistentState> {
    return new Prom((resolve) =>
      this.host.soon(() => {
        // What a previous process staged and never stored is garbage (RocksDbStorage.open).
        this.disk.mem.collectGarbage();
        resolve(this.disk.mem.loadSync());
      }),
    );
  }

  save(batch: PersistBatch): Promise<void> {
    let complete: CompleteWrite;
    try {
      complete = this.disk.mem.beginSave(batch);
    } catch (e) {
      return Prom.reject(asError(e));
    }
    return this.disk.write(this.host, { kind: 'save', batch }, complete, batch.sync ?? true);
  }

  async saveSnapshot(
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
    compactUpTo: number,
  ): Promise<boolean> {
    const mem = this.disk.mem;
    const id = mem.openStaging();
    const staged = await this.stage(id, chunks, false);
    const commit = mem.beginCommitSnapshot(id, meta, compactUpTo, staged);
    const bytes = staged.reduce((n, c) => n + c.length, 0);
    const write: DurableWrite = { kind: 'snapshot', meta, compactUpTo, bytes };
    await this.disk.write(this.host, write, commit.complete, true);
    return commit.stored();
  }

  async receiveSnapshot(
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<SnapshotData> {
    const mem = this.disk.mem;
    const id = mem.openStaging();
    const staged = await this.stage(id, chunks, true);
    return mem.registerReceived(id, meta, staged);
  }

  async discardSnapshot(data: SnapshotData): Promise<void> {
    this.disk.mem.discardSnapshotSync(data);
  }

  readSnapshot(): Promise<Snapshot | null> {
    return new Prom((resolve) => this.host.soon(() => resolve(this.disk.mem.readSnapshotSync())));
  }

  async close(): Promise<void> {}

  /** Each chunk is an unsynced write: durable with the next synced one, lost in a crash before. */
  private stage(
    id: number,
    chunks: AsyncIterable<Uint8Array>,
    received: boolean,
  ): Promise<Uint8Array[]> {
    return stageChunks(this.disk.mem, id, chunks, (complete, bytes) =>
      this.disk.write(this.host, { kind: 'snapshotChunk', id, bytes, received }, complete, false),
    );
  }
}
