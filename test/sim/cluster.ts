import {
  type CoreConfig,
  coreDefaults,
  type Entry,
  EntryType,
  type Message,
  MinHeap,
  type NodeId,
  RaftCore,
  type Random,
  mustSync,
  type Ready,
  Role,
  seededRandom,
  sendsBeforePersist,
} from '../../libs/raft/src/index.js';
import { MemoryStorage } from '../../libs/raft/src/storage/memory-storage.js';
import { SafetyChecker } from './checker.js';

export const TICK_MS = 10;

export type SimStats = ReturnType<typeof emptyStats>;

export function emptyStats() {
  return {
    messages: 0,
    dropped: 0,
    proposals: 0,
    acked: 0,
    reads: 0,
    snapshotsSent: 0,
    crashes: 0,
  };
}

export function addStats(into: SimStats, from: SimStats): void {
  for (const k of Object.keys(into) as (keyof SimStats)[]) into[k] += from[k];
}

interface SimEvent {
  at: number;
  seq: number;
  run: () => void;
}

/** The replicated state machine of the simulation: index -> client value. */
class SimStateMachine {
  values = new Map<number, string>();
  appliedIndex = 0;

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify([this.appliedIndex, [...this.values]]));
  }

  restore(data: Uint8Array): void {
    const [applied, values] = JSON.parse(new TextDecoder().decode(data)) as [
      number,
      [number, string][],
    ];
    this.appliedIndex = applied;
    this.values = new Map(values);
  }
}

interface PendingWrite {
  value: string;
  index: number;
  term: number;
}

interface PendingRead {
  id: number;
  maxAckedAtStart: number;
  readIndex?: number;
}

export class SimNode {
  core: RaftCore | null = null;
  sm = new SimStateMachine();
  readonly storage = new MemoryStorage();
  persisting = false;
  slowDisk = false;
  /** Bumped on crash so that completions of a crashed incarnation are ignored. */
  epoch = 0;
  pendingWrites = new Map<number, PendingWrite>();
  pendingReads = new Map<number, PendingRead>();
  lastSnapshotIndex = 0;
  persisted = { term: 0, vote: '' };
  /** Set to crash this node in the middle of its next synced write (then call the callback). */
  crashMidWrite: (() => void) | null = null;
  constructor(readonly id: NodeId) {}
  get up(): boolean {
    return this.core !== null;
  }
}

export interface NetworkFaults {
  dropRate: number;
  dupRate: number;
  maxDelayMs: number;
  /** Directed links "a>b" that lose everything. */
  blocked: Set<string>;
}

/**
 * A cluster of RaftCores on a simulated clock, disk and network, all driven by one seed.
 * Its driver loop mirrors RaftNode's: persist a Ready (durable only when the write completes),
 * then send, then apply, then advance.
 */
export class SimCluster {
  readonly nodes = new Map<NodeId, SimNode>();
  readonly checker = new SafetyChecker();
  readonly rand: Random;
  now = 0;
  private seq = 0;
  // Ties break by insertion order, so that runs are reproducible.
  private readonly events = new MinHeap<SimEvent>(
    (a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq),
  );
  readonly net: NetworkFaults = { dropRate: 0, dupRate: 0, maxDelayMs: 2, blocked: new Set() };
  snapshotEvery = 40;
  snapshotRetain = 8;
  stats = emptyStats();

  constructor(
    readonly ids: NodeId[],
    seed: number,
    private readonly traceEnabled = false,
  ) {
    this.rand = seededRandom(seed);
    for (const id of ids) {
      this.nodes.set(id, new SimNode(id));
      this.start(id);
      // Stagger ticks so that nodes are not in lock-step.
      this.schedule(Math.floor(this.rand() * TICK_MS), () => this.tickLoop(id));
    }
  }

  schedule(delay: number, run: () => void): void {
    this.events.push({ at: this.now + delay, seq: this.seq++, run });
  }

  /** Runs events until `until` (simulated ms) or until stop() returns true. */
  runUntil(until: number, stop?: () => boolean): void {
    for (;;) {
      const ev = this.events.pop();
      if (!ev) return;
      if (ev.at > until) {
        this.events.push(ev);
        this.now = until;
        return;
      }
      this.now = ev.at;
      ev.run();
      if (stop?.()) return;
    }
  }

  log(line: string): void {
    // Printed as it happens, so that a replayed failing seed shows what led up to the violation.
    if (this.traceEnabled) console.log(`${this.now.toFixed(2)}ms ${line}`);
  }

  private coreConfig(id: NodeId): CoreConfig {
    return {
      ...coreDefaults,
      id,
      voters: this.ids,
      electionTicksMin: 15,
      electionTicksMax: 30,
      heartbeatTicks: 5,
      maxInflightMsgs: 8,
      maxMsgBytes: 512,
      snapshotTimeoutTicks: 100,
      random: seededRandom(Math.floor(this.rand() * 2 ** 31)),
    };
  }

  start(id: NodeId): void {
    const n = this.nodes.get(id)!;
    const state = n.storage.loadSync();
    n.sm = new SimStateMachine();
    if (state.snapshot) n.sm.restore(state.snapshot.data);
    n.lastSnapshotIndex = state.snapshot?.meta.index ?? 0;
    n.persisted = state.hardState;
    n.core = new RaftCore(this.coreConfig(id), {
      hardState: state.hardState,
      snapshot: state.snapshot?.meta ?? null,
      entries: state.entries,
    });
    n.persisting = false;
    this.log(`${id} start term=${state.hardState.term} last=${n.core.log.lastIndex()}`);
    this.kick(n);
  }

  crash(id: NodeId): void {
    const n = this.nodes.get(id)!;
    if (!n.core) return;
    n.core = null;
    n.epoch++;
    n.persisting = false;
    n.pendingWrites.clear();
    n.pendingReads.clear();
    n.storage.discardPendingWrites();
    this.stats.crashes++;
    this.log(`${id} crash`);
  }

  private tickLoop(id: NodeId): void {
    const n = this.nodes.get(id)!;
    if (n.core) {
      n.core.tick();
      this.kick(n);
    }
    this.schedule(TICK_MS, () => this.tickLoop(id));
  }

  /** The driver loop: one Ready at a time, each persisted before anything it says is sent. */
  kick(n: SimNode): void {
    const core = n.core;
    if (!core || n.persisting || !core.hasReady()) return;
    const rd = core.ready();
    n.persisting = true;
    const epoch = n.epoch;
    const needsWrite = rd.hardState || rd.snapshot || rd.entries.length > 0;
    const sync = mustSync(rd, n.persisted);
    const delay = !sync ? 0 : n.slowDisk ? 20 + this.rand() * 80 : 0.1 + this.rand() * 0.9;
    for (const e of rd.entries) this.checker.onPersistedEntry(n.id, e, core.log.term(e.index - 1));
    for (const m of rd.messages) if (sendsBeforePersist(m)) this.send(n, m);
    if (sync && n.crashMidWrite) {
      // The most dangerous moment: messages out, the write not yet durable.
      const after = n.crashMidWrite;
      n.crashMidWrite = null;
      this.schedule(delay * this.rand(), () => {
        this.crash(n.id);
        after();
      });
    }
    this.schedule(delay, () => {
      if (n.epoch !== epoch || n.core !== core) return; // crashed mid-write: the write is lost
      // An unsynced commit-index update may be lost in a crash: model the worst case.
      if (needsWrite && sync) {
        n.storage.applyDurably({
          hardState: rd.hardState,
          entries: rd.entries,
          snapshot: rd.snapshot,
        });
      }
      if (rd.hardState) n.persisted = rd.hardState;
      this.afterPersist(n, core, rd);
    });
  }

  private afterPersist(n: SimNode, core: RaftCore, rd: Ready): void {
    if (rd.softState?.role === Role.Leader) {
      this.checker.onLeader(rd.softState.term, n.id);
      this.checker.checkLeaderLog(
        n.id,
        core.term,
        (i) => core.log.term(i),
        core.log.compactedIndex(),
        core.log.lastIndex(),
      );
      this.log(`${n.id} leader term=${rd.softState.term}`);
    }
    if (rd.softState && rd.softState.role !== Role.Leader) {
      n.pendingWrites.clear(); // outcome unknown: the client sees an error, not an ack
    }
    if (rd.hardState) this.recordCommit(n, core, rd.hardState.commit);
    for (const m of rd.messages) if (!sendsBeforePersist(m)) this.send(n, m);
    if (rd.snapshot) {
      n.sm.restore(rd.snapshot.data);
      n.lastSnapshotIndex = rd.snapshot.meta.index;
    }
    for (const e of rd.committedEntries) this.apply(n, e);
    for (const id of rd.droppedReads) n.pendingReads.delete(id);
    for (const rs of rd.readStates) {
      const r = n.pendingReads.get(rs.id);
      if (r) r.readIndex = rs.index;
    }
    core.advance(rd);
    this.serveReads(n);
    this.maybeSnapshot(n, core);
    n.persisting = false;
    this.kick(n);
  }

  private recordCommit(n: SimNode, core: RaftCore, commit: number): void {
    // Entries at or below the compaction point were checked when they were committed there.
    for (let i = Math.max(core.log.compactedIndex() + 1, commit - 64); i <= commit; i++) {
      const t = core.log.term(i);
      if (t !== undefined) this.checker.onCommit(n.id, i, t);
    }
  }

  private apply(n: SimNode, e: Entry): void {
    this.checker.onApply(n.id, e);
    if (e.index !== n.sm.appliedIndex + 1)
      throw new Error(`${n.id} applied ${e.index} after ${n.sm.appliedIndex}`);
    n.sm.appliedIndex = e.index;
    if (e.type === EntryType.Normal) n.sm.values.set(e.index, new TextDecoder().decode(e.data));
    const w = n.pendingWrites.get(e.index);
    if (w) {
      n.pendingWrites.delete(e.index);
      if (w.term === e.term) {
        this.checker.onAck(w.value, e.index);
        this.stats.acked++;
      }
    }
  }

  private serveReads(n: SimNode): void {
    for (const [id, r] of n.pendingReads) {
      if (r.readIndex !== undefined && n.sm.appliedIndex >= r.readIndex) {
        this.checker.onRead(n.id, r.readIndex, r.maxAckedAtStart);
        n.pendingReads.delete(id);
        this.stats.reads++;
      }
    }
  }

  private maybeSnapshot(n: SimNode, core: RaftCore): void {
    const applied = n.sm.appliedIndex;
    // A snapshot received but not yet restored (next Ready) leaves the state machine behind.
    if (applied !== core.log.applied || applied - n.lastSnapshotIndex < this.snapshotEvery) return;
    const meta = core.snapshotMetaAt(applied);
    const upTo = Math.max(0, applied - this.snapshotRetain);
    n.storage.saveSnapshotSync({ meta, data: n.sm.snapshot() }, upTo);
    core.compacted(meta, upTo);
    n.lastSnapshotIndex = applied;
  }

  private send(from: SimNode, m: Message): void {
    this.stats.messages++;
    if (m.type === 'InstallSnapshot') {
      const snap = from.storage.readSnapshotSync();
      if (!snap) return;
      m = { ...m, snapshot: snap.meta, data: snap.data };
      this.stats.snapshotsSent++;
    }
    const copies = this.rand() < this.net.dupRate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      if (this.linkDown(m.from, m.to) || this.rand() < this.net.dropRate) {
        this.stats.dropped++;
        continue;
      }
      const msg = m;
      this.schedule(0.05 + this.rand() * this.net.maxDelayMs, () => this.deliver(msg));
    }
  }

  private linkDown(from: NodeId, to: NodeId): boolean {
    return this.net.blocked.has(`${from}>${to}`);
  }

  private deliver(m: Message): void {
    const n = this.nodes.get(m.to)!;
    if (!n.core || this.linkDown(m.from, m.to)) return;
    n.core.step(m);
    if (m.type === 'InstallSnapshot') {
      const sender = this.nodes.get(m.from)!;
      sender.core?.reportSnapshot(m.to, true);
    }
    this.kick(n);
  }

  // ---- client --------------------------------------------------------------------------------

  leaders(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.core?.role === Role.Leader);
  }

  /** A client write sent to a random node (as a client that does not know the leader would). */
  propose(value: string): void {
    const ups = [...this.nodes.values()].filter((n) => n.up);
    if (ups.length === 0) return;
    const leaders = ups.filter((n) => n.core!.role === Role.Leader);
    const n =
      leaders.length > 0 && this.rand() < 0.8
        ? leaders[Math.floor(this.rand() * leaders.length)]
        : ups[Math.floor(this.rand() * ups.length)];
    this.stats.proposals++;
    try {
      const { index, term } = n.core!.propose([new TextEncoder().encode(value)]);
      n.pendingWrites.set(index, { value, index, term });
      this.kick(n);
    } catch {
      // Not leader or back-pressure: the client would retry elsewhere.
    }
  }

  read(): void {
    for (const n of this.leaders()) {
      try {
        const id = n.core!.readIndex();
        n.pendingReads.set(id, { id, maxAckedAtStart: this.checker.maxAckedIndex });
        this.kick(n);
      } catch {
        // Not leader: ignored.
      }
    }
  }
}
