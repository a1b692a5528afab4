// A cluster of real RaftNodes (libs/raft's driver and core) in the simulated world: each node is
// a host process with a SimStorage on its own SimDisk and a SimTransport on the shared network.
import {
  type Entry,
  type NodeId,
  RaftNode,
  Role,
  type Transport,
} from '../../libs/raft/src/index.js';
import { learnersOf, type MembershipChange, votersOf } from '../../libs/raft/src/membership.js';
import { SafetyChecker } from './checker.js';
import { encodeValue, KvMachine } from './kv-machine.js';
import { SimDisk, type SimHost, SimNetwork, SimTransport, type SimWorld } from './world/index.js';

export type SimStats = ReturnType<typeof emptyStats>;

export function emptyStats() {
  return {
    events: 0,
    messages: 0,
    dropped: 0,
    proposals: 0,
    acked: 0,
    reads: 0,
    snapshotsSent: 0,
    crashes: 0,
    freezes: 0,
    membershipChanges: 0,
  };
}

export function addStats(into: SimStats, from: SimStats): void {
  for (const k of Object.keys(into) as (keyof SimStats)[]) into[k] += from[k];
}

/** RaftNode settings of the simulation: small messages and frequent snapshots stress the edges. */
export const raftSimOptions = {
  tickMs: 10,
  electionTimeoutMinMs: 150,
  electionTimeoutMaxMs: 300,
  heartbeatIntervalMs: 50,
  maxInflightMsgs: 8,
  maxMsgBytes: 512,
  snapshotEntries: 40,
  snapshotRetainEntries: 8,
  maxPromoteLagEntries: 10,
} as const;

/** One node id's machine: its disk survives restarts; host, transport and RaftNode do not. */
export class SimRaftNode {
  host: SimHost | undefined;
  raft: RaftNode<number> | undefined;
  sm = new KvMachine();
  transport: SimTransport | undefined;
  readonly disk: SimDisk;

  constructor(
    readonly id: NodeId,
    world: SimWorld,
  ) {
    this.disk = new SimDisk(world);
  }

  /** Started and serving: a process that is alive and whose RaftNode is running. */
  get up(): boolean {
    return this.host !== undefined && !this.host.crashed && this.raft !== undefined;
  }

  get isLeader(): boolean {
    return this.up && this.raft!.isLeader();
  }
}

/** The cluster, its checker, and a client that writes and reads through the real API. */
export class SimRaftCluster {
  readonly nodes = new Map<NodeId, SimRaftNode>();
  readonly net: SimNetwork;
  readonly checker: SafetyChecker;
  readonly stats = emptyStats();
  /** Figures of transports whose process is gone. */
  private retired = { messages: 0, snapshotsSent: 0 };

  /** Every node: the bootstrap voters, then the spares that start empty and wait to be added. */
  readonly all: NodeId[];

  constructor(
    readonly world: SimWorld,
    readonly ids: NodeId[],
    readonly spares: NodeId[] = [],
  ) {
    this.net = new SimNetwork(world);
    this.checker = new SafetyChecker((v) => world.fail(v));
    this.all = [...ids, ...spares];
    for (const id of this.all) {
      const node = new SimRaftNode(id, world);
      node.disk.onDurable = (w) => {
        const mem = node.disk.mem;
        if (w.kind !== 'save') return;
        const { entries = [], hardState, snapshot } = w.batch;
        for (const e of entries) this.checker.onPersistedEntry(id, e, mem.termAt(e.index - 1));
        if (snapshot) this.checker.onCommit(id, snapshot.meta.index, snapshot.meta.term);
        if (hardState) this.checker.onDurableHardState(id, hardState);
        if (hardState && hardState.commit > mem.snapshotIndex())
          this.checker.onCommit(id, hardState.commit, mem.termAt(hardState.commit)!);
      };
      this.nodes.set(id, node);
      this.start(id);
    }
  }

  /** Starts a new process for id on its disk (the previous one must have crashed). */
  start(id: NodeId): void {
    const w = this.world;
    const node = this.nodes.get(id)!;
    const host = w.spawn(id);
    node.host = host;
    node.raft = undefined;
    node.sm = new KvMachine((e, before) => this.onApply(id, e, before));
    const storage = node.disk.storage(host);
    const transport = new SimTransport(host, this.net, {
      readSnapshot: () => storage.readSnapshot(),
      receiveSnapshot: (meta, chunks) => storage.receiveSnapshot(meta, chunks),
    });
    node.transport = transport;
    const durable = {
      hardState: () => node.disk.mem.hardStateSync(),
      lastIndex: () => node.disk.mem.lastIndex(),
    };
    // What the node sends is checked against its disk as it leaves.
    const checked: Transport = {
      start: () => transport.start(),
      stop: () => transport.stop(),
      onMessage: (h) => transport.onMessage(h),
      onUnreachable: (h) => transport.onUnreachable(h),
      onSnapshotStatus: (h) => transport.onSnapshotStatus(h),
      send: (m) => {
        this.checker.onSend(id, m, durable);
        transport.send(m);
      },
    };
    const started = RaftNode.start<number>({
      ...raftSimOptions,
      id,
      voters: this.spares.includes(id) ? [] : this.ids,
      storage,
      transport: checked,
      stateMachine: node.sm,
      runtime: host,
      seed: w.int(0, 2 ** 31),
    });
    started.then(
      (raft) => {
        if (host.crashed) return;
        node.raft = raft;
        const mem = node.disk.mem;
        w.trace(() => `${host.name} started term=${raft.status().term} last=${mem.lastIndex()}`);
        raft.on('role', (role: Role, term: number) => {
          w.trace(() => `${id} ${role} term=${term}`);
          if (role !== Role.Leader) return;
          this.checker.onLeader(term, id);
          this.checker.onLeaderVoters(term, id, votersOf(raft.membership()));
          // Everything before the new leader's no-op is durable: check the log on its disk.
          this.checker.checkLeaderLog(
            id,
            term,
            (i) => mem.termAt(i),
            mem.snapshotIndex(),
            mem.lastIndex(),
          );
        });
        raft.on('fatal', (e: Error) => w.fail(new Error(`${id} failed: ${e.stack}`)));
      },
      (e: Error) => w.fail(new Error(`${id} did not start: ${e.stack}`)),
    );
  }

  crash(id: NodeId): void {
    const node = this.nodes.get(id)!;
    if (!node.host || node.host.crashed) return;
    if (node.transport) {
      this.retired.messages += node.transport.stats.sent;
      this.retired.snapshotsSent += node.transport.stats.snapshotsSent;
    }
    node.host.crash();
    node.transport = undefined;
    node.raft = undefined;
    this.stats.crashes++;
  }

  private onApply(id: NodeId, e: Entry, appliedBefore: number): void {
    if (e.index !== appliedBefore + 1)
      this.world.fail(new Error(`${id} applied ${e.index} after ${appliedBefore}`));
    this.checker.onCommit(id, e.index, e.term);
    this.checker.onApply(id, e);
  }

  // ---- client --------------------------------------------------------------------------------

  leaders(): SimRaftNode[] {
    return [...this.nodes.values()].filter((n) => n.isLeader);
  }

  /**
   * A client write sent to a random up node (a leader 80 % of the time, as a client that knows
   * the leader most of the time). Runs on that node's host: a frozen node takes it when it
   * thaws. Acknowledged once the node answers with the index it was applied at.
   */
  propose(value: string): void {
    const ups = [...this.nodes.values()].filter((n) => n.up);
    if (ups.length === 0) return;
    const leaders = ups.filter((n) => n.raft!.isLeader());
    const w = this.world;
    const n = leaders.length > 0 && w.chance(0.8) ? w.pick(leaders) : w.pick(ups);
    const raft = n.raft!;
    this.stats.proposals++;
    n.host!.run(() => {
      // A follower refuses at once and changes nothing; skipping it saves building the error.
      if (!raft.isLeader()) return;
      // A failed write (lost leadership, dropped, stopped) would be retried elsewhere.
      settle(raft.propose(encodeValue(value)), (r) => {
        this.checker.onAck(value, r.index);
        this.stats.acked++;
      });
    });
  }

  /**
   * Asks a leader for a random membership change: add a spare (as a learner, sometimes as a
   * voter), promote a learner, remove a learner or (keeping three voters) a voter, the leader
   * included; a removed node may be added again later, with its old data. The checker checks
   * each change the leader appends against the configuration it replaces.
   */
  changeMembership(): void {
    const leaders = this.leaders();
    if (leaders.length === 0) return;
    const w = this.world;
    const n = w.pick(leaders);
    const raft = n.raft!;
    const current = raft.membership();
    const voters = votersOf(current);
    const learners = learnersOf(current);
    const outside = this.all.filter((id) => !current.members.some((m) => m.id === id));
    const options: MembershipChange[] = [];
    for (const id of outside)
      options.push({ type: w.chance(0.8) ? 'addLearner' : 'addVoter', id, address: '' });
    for (const id of learners) options.push({ type: 'promote', id }, { type: 'remove', id });
    if (voters.length > 3) for (const id of voters) options.push({ type: 'remove', id });
    if (options.length === 0) return;
    const change = w.pick(options);
    n.host!.run(() => {
      if (!raft.isLeader()) return;
      const before = raft.membership();
      const commit = raft.status().commit;
      w.trace(() => `${n.id} proposes ${change.type} ${change.id}`);
      settle(raft.proposeMembership(change), () => this.stats.membershipChanges++);
      const after = raft.membership();
      if (after === before) return;
      this.checker.onMembershipChange(
        n.id,
        { index: before.index, voters: votersOf(before) },
        { index: after.index, voters: votersOf(after) },
        commit,
      );
    });
  }

  /** A linearizable read on every node that believes it leads. */
  read(): void {
    for (const n of this.leaders()) {
      const raft = n.raft!;
      const maxAckedAtStart = this.checker.maxAckedIndex;
      n.host!.run(() =>
        settle(raft.read(), () => {
          this.checker.onRead(n.id, raft.applied, maxAckedAtStart);
          this.stats.reads++;
        }),
      );
    }
  }

  /** The run's figures so far. */
  summary(): SimStats {
    let { messages, snapshotsSent } = this.retired;
    for (const n of this.nodes.values()) {
      messages += n.transport?.stats.sent ?? 0;
      snapshotsSent += n.transport?.stats.snapshotsSent ?? 0;
    }
    const dropped = this.net.stats.dropped;
    return { ...this.stats, events: this.world.events, messages, snapshotsSent, dropped };
  }
}

/**
 * Runs onDone if p succeeds. A failed request is the client's to retry; a safety violation that
 * onDone throws is already recorded with the world, which fails the run after this event.
 */
function settle<T>(p: Promise<T>, onDone: (v: T) => void): void {
  p.then(onDone, ignore).catch(ignore);
}

const ignore = () => {};
