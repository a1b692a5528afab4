import { EventEmitter } from 'node:events';
import { coreDefaults } from './config.js';
import {
  type RaftLogger,
  type RaftNodeOptions,
  type RaftNodeStatus,
  silentLogger,
} from './node-options.js';
import { NotLeaderError, ProposalDroppedError, MembershipChangeError } from './errors.js';
import { learnersOf, type Membership, type MembershipChange, votersOf } from './membership.js';
import { entriesBytes, type ProposalOutcome, type RaftNodeObserver } from './observer.js';
import { type Runtime, systemRuntime, type Timer, type Transport } from './ports.js';
import { seededRandom } from './prng.js';
import { RaftCore } from './raft.js';
import { PendingRequests, type ProposalResult } from './pending.js';
import { handleReady, type ReadyHandler, type SoftState } from './ready.js';
import { NodeSnapshots, SnapshotAbandoned, type SnapshotTaken } from './node-snapshots.js';
import type { PersistBatch, Storage } from './storage.js';
import { asError } from '../../common/src/errors.js';
import { ignoreRejection } from '../../common/src/ignore.js';
import {
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  Role,
  type Snapshot,
  type SnapshotData,
  type SnapshotMeta,
} from './types.js';

/** What a RaftNode tells its listeners, typed: a listener with the wrong arguments does not compile. */
export interface RaftNodeEvents {
  /** This node's role changed (and the term it changed in). */
  role: [role: Role, term: number];
  /** The leader this node knows changed ('' when none is known). */
  leader: [leader: NodeId, term: number];
  /** Entries up to index were applied. */
  applied: [index: number];
  /** The node failed beyond repair (storage, an invariant) and stopped. */
  fatal: [error: Error];
  /** A snapshot was taken and the log compacted. */
  snapshot: [meta: SnapshotMeta, bytes: number, seconds: number];
  /** A snapshot from the leader was installed. */
  snapshotInstalled: [meta: SnapshotMeta, bytes: number, seconds: number];
  /** The configuration in force changed (appended, reverted, or from a snapshot). */
  membership: [membership: Membership];
}

export class RaftNode<R = unknown> extends EventEmitter<RaftNodeEvents> {
  private readonly core: RaftCore;
  private readonly log: RaftLogger;
  private readonly rt: Runtime;
  private ticker: Timer | undefined;
  private running = false;
  private loopActive = false;
  private loopScheduled = false;
  private loopDone: Promise<void> = Promise.resolve();
  private stopped = false;
  private failed = false;
  private appliedIndex = 0;
  private lastSnapshotIndex = 0;
  private persistedHard: HardState;
  /**
   * A hard state whose only news is the commit index, not written yet: it rides with the next
   * synced write (or the last one at stop). Losing it in a crash is harmless (mustSync).
   */
  private deferredHard: HardState | undefined;
  private readonly pending: PendingRequests<R>;
  private readonly snapshots: NodeSnapshots;
  private readonly snapshotEntries: number;
  private readonly snapshotRetain: number;
  readonly electionTimeoutMaxMs: number;
  /** Figures for metrics: storage writes and the entries they carried. */
  readonly counters = {
    storageWrites: 0,
    entriesWritten: 0,
    storageWriteSeconds: 0,
    snapshotsTaken: 0,
    snapshotsInstalled: 0,
    appendEntriesSent: 0,
    appendEntriesReceived: 0,
    /** Approximate bytes of the entries in the log (data plus a fixed per-entry overhead). */
    logBytes: 0,
    proposals: { committed: 0, not_leader: 0, dropped: 0, lost: 0, failed: 0 } satisfies Record<
      ProposalOutcome,
      number
    >,
  };
  /** Set by a metrics layer; undefined costs one check per event. */
  observer: RaftNodeObserver | undefined;

  private constructor(
    private readonly opts: RaftNodeOptions<R>,
    restored: Awaited<ReturnType<Storage['load']>>,
  ) {
    super();
    this.rt = opts.runtime ?? systemRuntime;
    this.pending = new PendingRequests<R>(() => this.rt.now());
    this.snapshots = new NodeSnapshots(this.rt, opts.storage, opts.stateMachine);
    this.persistedHard = restored.hardState;
    const tickMs = opts.tickMs ?? 10;
    const ticks = (ms: number) => Math.max(1, Math.round(ms / tickMs));
    this.electionTimeoutMaxMs = opts.electionTimeoutMaxMs ?? 300;
    this.snapshotEntries = opts.snapshotEntries ?? 10_000;
    this.snapshotRetain = opts.snapshotRetainEntries ?? 1_000;
    this.log = opts.logger ?? silentLogger;
    this.core = new RaftCore(
      {
        ...coreDefaults,
        id: opts.id,
        voters: opts.voters,
        addresses: opts.addresses,
        maxPromoteLagEntries: opts.maxPromoteLagEntries ?? coreDefaults.maxPromoteLagEntries,
        electionTicksMin: ticks(opts.electionTimeoutMinMs ?? 150),
        electionTicksMax: ticks(this.electionTimeoutMaxMs),
        heartbeatTicks: ticks(opts.heartbeatIntervalMs ?? 50),
        preVote: opts.preVote ?? coreDefaults.preVote,
        checkQuorum: opts.checkQuorum ?? coreDefaults.checkQuorum,
        maxInflightMsgs: opts.maxInflightMsgs ?? coreDefaults.maxInflightMsgs,
        maxMsgBytes: opts.maxMsgBytes ?? coreDefaults.maxMsgBytes,
        maxUncommittedEntries: opts.maxUncommittedEntries ?? coreDefaults.maxUncommittedEntries,
        snapshotTimeoutTicks: ticks(60_000),
        random: seededRandom(opts.seed ?? Math.floor(Math.random() * 2 ** 31)),
      },
      {
        hardState: restored.hardState,
        snapshot: restored.snapshot?.meta ?? null,
        entries: restored.entries,
      },
    );
    this.counters.logBytes = entriesBytes(restored.entries);
  }

  /** Loads storage, restores the state machine, starts the transport and the clock. */
  static async start<R>(opts: RaftNodeOptions<R>): Promise<RaftNode<R>> {
    const restored = await opts.storage.load();
    const node = new RaftNode<R>(opts, restored);
    if (restored.snapshot) {
      await node.snapshots.restore(restored.snapshot, () => false);
      node.appliedIndex = node.lastSnapshotIndex = restored.snapshot.meta.index;
    }
    node.onMembership(node.core.membership());
    opts.transport.onMessage((m) => node.onMessage(m));
    opts.transport.onUnreachable((p) => node.guarded(() => node.core.reportUnreachable(p)));
    opts.transport.onSnapshotStatus((p, ok) => {
      node.guarded(() => node.core.reportSnapshot(p, ok));
      node.schedule();
    });
    await opts.transport.start();
    node.running = true;
    node.armTicker();
    node.schedule();
    return node;
  }

  get id(): NodeId {
    return this.opts.id;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  /** Replicates a command; resolves with the state machine's result once applied here. */
  propose(command: Uint8Array): Promise<ProposalResult<R>> {
    if (!this.running) {
      this.counters.proposals.failed++;
      return Promise.reject(new NotLeaderError('', 'node is stopped'));
    }
    try {
      const { index, term } = this.core.propose([command]);
      this.schedule();
      return this.pending.proposal(index, term);
    } catch (e) {
      if (e instanceof ProposalDroppedError) this.counters.proposals.dropped++;
      else if (e instanceof NotLeaderError) this.counters.proposals.not_leader++;
      else {
        this.counters.proposals.failed++;
        this.fatal(asError(e));
      }
      return Promise.reject(asError(e));
    }
  }

  /**
   * Proposes a single-server membership change; resolves once its entry is committed and applied
   * here. Rejects at once with MembershipChangeError when the leader refuses it (see
   * RaftCore.proposeMembership), NotLeaderError on a follower.
   */
  proposeMembership(change: MembershipChange): Promise<ProposalResult<R>> {
    if (!this.running) return Promise.reject(new NotLeaderError('', 'node is stopped'));
    try {
      const { index, term } = this.core.proposeMembership(change);
      this.schedule();
      return this.pending.proposal(index, term);
    } catch (e) {
      if (!(e instanceof NotLeaderError || e instanceof MembershipChangeError))
        this.fatal(asError(e));
      return Promise.reject(asError(e));
    }
  }

  /** The configuration in force: the latest in this node's log, committed or not. */
  membership(): Membership {
    return this.core.membership();
  }

  /** The peer transport, for its own figures (queues, connections). */
  get transport(): Transport {
    return this.opts.transport;
  }

  /** Entries in the in-memory log (after the compaction point) and their approximate bytes. */
  logSize(): { entries: number; bytes: number } {
    const log = this.core.log;
    return { entries: log.lastIndex() - log.firstIndex() + 1, bytes: this.counters.logBytes };
  }

  /**
   * The state machine's point-in-time view as of the last applied entry, with the meta a
   * snapshot of it carries (index, term, membership): for a backup taken outside the node. The
   * first chunk is made now, in the caller's turn (see StateMachine.snapshot); the caller pulls
   * the rest at its own pace and should call return() on the iterator if it stops early.
   * Throws SnapshotAbandoned while the node takes a snapshot of its own: a state machine may
   * serve one view at a time, and the node's own snapshot comes first (one that begins while
   * the export is read ends the export: the iterator then throws).
   */
  exportSnapshot(): { meta: SnapshotMeta; chunks: Iterator<Uint8Array> } {
    if (this.snapshots.busy) {
      throw new SnapshotAbandoned('the node is taking a snapshot of its own; retry');
    }
    const meta = this.core.snapshotMetaAt(this.appliedIndex);
    const view = this.opts.stateMachine.snapshot()[Symbol.iterator]();
    const first = view.next();
    let pending: IteratorResult<Uint8Array> | undefined = first;
    const chunks: Iterator<Uint8Array> = {
      next: () => {
        const r = pending ?? view.next();
        pending = undefined;
        return r;
      },
      return: (value?: unknown) => {
        pending = undefined;
        return view.return?.(value) ?? { done: true, value: undefined };
      },
    };
    return { meta, chunks };
  }

  /**
   * The last `max` entries of this node's log still in memory (none of those a snapshot
   * compacted), oldest first, committed or not: for a view of the log, not for replication.
   */
  logTail(max: number): { entries: Entry[]; commit: number } {
    const log = this.core.log;
    const hi = log.lastIndex() + 1;
    const lo = Math.max(log.firstIndex(), hi - Math.max(0, Math.floor(max)));
    return { entries: log.slice(lo, hi), commit: log.committed };
  }

  /** Linearizable read barrier (ReadIndex): resolves once this leader's state is current. */
  read(): Promise<void> {
    if (!this.running) return Promise.reject(new NotLeaderError('', 'node is stopped'));
    try {
      const id = this.core.readIndex();
      this.schedule();
      return this.pending.read(id);
    } catch (e) {
      if (!(e instanceof NotLeaderError || e instanceof ProposalDroppedError))
        this.fatal(asError(e));
      return Promise.reject(asError(e));
    }
  }

  /**
   * Hands leadership to target; resolves once target leads, rejects after timeoutMs. Rejects at
   * once with TransferNotPossibleError if the target was not heard from recently (it is down).
   */
  transferLeadership(target: NodeId, timeoutMs = 2 * this.electionTimeoutMaxMs): Promise<void> {
    if (this.core.leader === target && target !== '') return Promise.resolve();
    try {
      this.core.transferLeadership(target);
    } catch (e) {
      return Promise.reject(asError(e));
    }
    this.schedule();
    return new Promise((resolve, reject) => {
      const timer = this.rt.after(timeoutMs, () => {
        this.off('leader', onLeader);
        reject(
          new Error(`leadership transfer to ${target} did not complete within ${timeoutMs} ms`),
        );
      });
      const onLeader = (leader: NodeId) => {
        if (leader !== target) return;
        timer.cancel();
        this.off('leader', onLeader);
        resolve();
      };
      this.on('leader', onLeader);
    });
  }

  status(): RaftNodeStatus {
    const status = this.core.status();
    return {
      ...status,
      applied: this.appliedIndex,
      voters: votersOf(status.membership),
      learners: learnersOf(status.membership),
    };
  }

  isLeader(): boolean {
    return this.core.role === Role.Leader;
  }

  leaderId(): NodeId {
    return this.core.leader;
  }

  /**
   * Stops the node: optionally hands leadership to the most caught-up peer first, then stops
   * ticking and the transport, finishes the write in progress and closes storage.
   */
  async stop(opts: { transferLeadership?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    const voters = votersOf(this.core.membership());
    if (opts.transferLeadership && this.isLeader() && voters.length > 1) {
      const [best] = Object.entries(this.core.status().progress)
        .filter(([id]) => voters.includes(id))
        .sort((a, b) => b[1].matchIndex - a[1].matchIndex);
      // A leader tracks every other voter, and there is one: best is always there.
      if (best) {
        await this.transferLeadership(best[0]).catch((e: Error) =>
          this.log.warn({ err: e.message }, 'leadership transfer on shutdown failed'),
        );
      }
    }
    this.stopped = true;
    this.running = false;
    this.ticker?.cancel();
    await this.opts.transport.stop();
    await this.loopDone;
    await this.snapshots.abandon();
    this.failPending(new NotLeaderError('', 'node is stopping'));
    if (this.deferredHard && !this.failed)
      await ignoreRejection(
        this.opts.storage.save({ hardState: this.deferredHard, sync: false }),
        'the commit index is only a hint at restart: the leader tells it again',
      );
    await this.opts.storage.close();
  }

  // ---- event loop ----------------------------------------------------------------------------

  /** Re-armed at each tick (from when it fires, as setInterval does) while the node runs. */
  private armTicker(): void {
    this.ticker = this.rt.after(this.opts.tickMs ?? 10, () => {
      if (!this.running) return;
      this.armTicker();
      this.onTick();
    });
  }

  private onTick(): void {
    this.guarded(() => this.core.tick());
    this.schedule();
  }

  private onMessage(m: Message): void {
    const received = m.type === 'InstallSnapshot' ? m.data : undefined;
    if (!this.running) {
      if (received) this.discard(received);
      return;
    }
    if (m.type === 'AppendEntries') this.counters.appendEntriesReceived++;
    const before = this.core.pendingSnapshotData;
    this.guarded(() => this.core.step(m));
    if (received) {
      // Staged data the core did not take, or replaced before a Ready carried it, is garbage.
      const now = this.core.pendingSnapshotData;
      if (received !== now) this.discard(received);
      if (before !== undefined && before !== now) this.discard(before);
    }
    this.schedule();
  }

  private discard(data: SnapshotData): void {
    void ignoreRejection(
      this.opts.storage.discardSnapshot(data),
      'a discarded snapshot left behind is deleted at start-up',
    );
  }

  /**
   * Runs fn against the core. The core throws only when one of its invariants broke (a bug, or
   * a message no correct peer sends): it may be half-updated, so the node must not go on.
   */
  private guarded(fn: () => void): void {
    if (!this.running) return;
    try {
      fn();
    } catch (e) {
      this.fatal(asError(e));
    }
  }

  /** Coalesces wake-ups: everything that arrives in one turn of the event loop shares a Ready. */
  private schedule(): void {
    if (this.loopScheduled || this.loopActive || !this.running) return;
    this.loopScheduled = true;
    this.rt.soon(() => {
      this.loopScheduled = false;
      if (this.loopActive || !this.running) return;
      this.loopActive = true;
      this.loopDone = this.readyLoop().then(
        () => this.loopEnded(),
        (e: Error) => {
          // A restore cut short because the node stops is no failure.
          if (!(e instanceof SnapshotAbandoned)) this.fatal(e);
          this.loopEnded();
        },
      );
    });
  }

  private loopEnded(): void {
    this.loopActive = false;
    let more = false;
    this.guarded(() => (more = this.core.hasReady()));
    if (more) this.schedule();
  }

  private async readyLoop(): Promise<void> {
    while (this.running && this.core.hasReady()) {
      const rd = this.core.ready();
      // The leader's snapshot replaces the state: one being taken locally is older, drop it.
      if (rd.snapshot) void this.snapshots.abandon();
      const written = handleReady(this.core, rd, this.persistedHard, this.readyHandler);
      if (written) await written;
      if (!this.running) return;
      this.pending.serveReads(this.appliedIndex);
      if (rd.committedEntries.length > 0) this.emit('applied', this.appliedIndex);
      if (!this.snapshots.busy && this.snapshotIsDue()) this.takeSnapshot();
    }
  }

  /** This node's side of the Ready contract (see handleReady for the order). */
  private readonly readyHandler: ReadyHandler = {
    softState: (s) => this.onSoftState(s),
    membership: (m) => this.onMembership(m),
    send: (m) => {
      if (m.type === 'AppendEntries') this.counters.appendEntriesSent++;
      this.opts.transport.send(m);
    },
    persist: (batch) => {
      if (batch.sync === false) {
        // Only the commit index moved: a write of its own would cost a storage round trip on
        // every node for every commit, and would buy nothing a crash cannot take away.
        this.deferredHard = batch.hardState;
        return;
      }
      return this.persist(batch);
    },
    stopped: () => !this.running,
    restore: (snapshot) => this.restoreSnapshot(snapshot),
    apply: (e) => this.apply(e),
    reads: (dropped, confirmed) => {
      for (const id of dropped) this.pending.readDropped(id, this.core.leader);
      for (const rs of confirmed) this.pending.readConfirmed(rs.id, rs.index);
    },
  };

  private async persist(given: PersistBatch): Promise<void> {
    const started = this.rt.now();
    // The deferred commit is older than anything in this batch: the batch's own hard state wins.
    const batch =
      this.deferredHard && !given.hardState ? { ...given, hardState: this.deferredHard } : given;
    this.deferredHard = undefined;
    await this.opts.storage.save(batch);
    const entries = batch.entries ?? [];
    if (batch.hardState) this.persistedHard = batch.hardState;
    if (batch.sync !== false) {
      const seconds = (this.rt.now() - started) / 1000;
      this.counters.storageWrites++;
      this.counters.entriesWritten += entries.length;
      this.counters.storageWriteSeconds += seconds;
      this.observer?.storageWrite?.(seconds, entries.length);
    }
    // A snapshot replaces the whole log; overwritten suffixes are not subtracted (estimate).
    if (batch.snapshot) this.counters.logBytes = 0;
    this.counters.logBytes += entriesBytes(entries);
  }

  private async restoreSnapshot(snapshot: Snapshot): Promise<void> {
    const { seconds } = await this.snapshots.restore(snapshot, () => !this.running);
    this.appliedIndex = this.lastSnapshotIndex = snapshot.meta.index;
    // Entries this node proposed and that the snapshot covers will not be applied one by one.
    this.counters.proposals.lost += this.pending.leadershipLost(this.core.leader, -1);
    this.counters.snapshotsInstalled++;
    this.emit('snapshotInstalled', snapshot.meta, snapshot.data.bytes, seconds);
    this.log.info(
      { index: snapshot.meta.index, term: snapshot.meta.term },
      'installed snapshot from leader',
    );
  }

  private onSoftState(s: SoftState): void {
    if (s.role !== Role.Leader)
      this.counters.proposals.lost += this.pending.leadershipLost(
        s.leader,
        this.core.log.committed,
      );
    this.log.info({ role: s.role, term: s.term, leader: s.leader }, 'raft state changed');
    this.emit('role', s.role, s.term);
    this.emit('leader', s.leader, s.term);
  }

  private onMembership(m: Membership): void {
    const addresses: Record<NodeId, string> = {};
    for (const member of m.members)
      if (member.address !== '') addresses[member.id] = member.address;
    this.opts.transport.updatePeers?.(addresses);
    this.log.info(
      { index: m.index, voters: votersOf(m), learners: learnersOf(m) },
      'membership in force',
    );
    this.emit('membership', m);
  }

  private apply(e: Entry): void {
    const result = this.opts.stateMachine.apply(e);
    this.appliedIndex = e.index;
    const seconds = this.pending.applied(e, result, this.core.leader);
    if (seconds === undefined) return;
    if (seconds < 0) {
      this.counters.proposals.lost++;
    } else {
      this.counters.proposals.committed++;
      this.observer?.proposalCommitted?.(seconds);
    }
  }

  /** Checked after every Ready, while no snapshot is being taken. */
  private snapshotIsDue(): boolean {
    const applied = this.appliedIndex;
    const since = applied - this.lastSnapshotIndex;
    if (since === 0 || applied !== this.core.log.applied) return false;
    return this.opts.snapshotDue ? this.opts.snapshotDue(since) : since >= this.snapshotEntries;
  }

  /**
   * Starts a snapshot of the state as of now in the background: the Ready loop goes on
   * (persisting, sending heartbeats, applying) while the state machine's point-in-time view is
   * serialised and saved; the log is compacted once it is stored.
   */
  private takeSnapshot(): void {
    const applied = this.appliedIndex;
    const meta = this.core.snapshotMetaAt(applied);
    const upTo = Math.max(0, applied - this.snapshotRetain);
    this.snapshots.take(meta, upTo).then(
      (taken) => this.snapshotTaken(meta, upTo, taken),
      (e: Error) => {
        if (!(e instanceof SnapshotAbandoned) && this.running) this.fatal(e);
      },
    );
  }

  private snapshotTaken(meta: SnapshotMeta, upTo: number, taken: SnapshotTaken): void {
    if (!taken.stored || !this.running) return;
    const before = this.logSize().entries;
    this.guarded(() => this.core.compacted(meta, upTo));
    // Entries are not sized one by one: assume the compacted ones were of average size.
    if (before > 0) this.counters.logBytes *= this.logSize().entries / before;
    this.lastSnapshotIndex = Math.max(this.lastSnapshotIndex, meta.index);
    this.counters.snapshotsTaken++;
    this.emit('snapshot', meta, taken.bytes, taken.seconds);
    this.log.info({ index: meta.index, bytes: taken.bytes }, 'took snapshot and compacted log');
  }

  private failPending(err: Error): void {
    this.counters.proposals.failed += this.pending.failAll(err);
  }

  /**
   * A storage failure, or a broken invariant of the core, leaves the node unable to keep its
   * promises: stop serving at once ('fatal' tells the process to exit, so that it restarts from
   * what is on disk).
   */
  private fatal(e: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.log.error({ err: e.message, stack: e.stack }, 'raft node failed; stopping');
    this.running = false;
    this.ticker?.cancel();
    void this.snapshots.abandon();
    this.failPending(e);
    this.emit('fatal', e);
  }
}
