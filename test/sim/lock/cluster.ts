// Complete lock-service nodes in the simulated world: the real LockNode (Raft node, state
// machine, leader duties, router, streams, API) on a simulated host, disk and network.
import type { Logger } from 'pino';
import { LockNode } from '../../../apps/lock-service/src/domain/lock-node.js';
import {
  defaultLimits,
  type LockNodeOptions,
} from '../../../apps/lock-service/src/domain/options.js';
import {
  learnersOf,
  type MembershipChange,
  Role,
  type Transport,
  votersOf,
} from '../../../libs/raft/src/index.js';
import { SafetyChecker } from '../checker.js';
import {
  SimDisk,
  type SimHost,
  type SimNetwork,
  SimTransport,
  type SimWorld,
} from '../world/index.js';
import type { LockHistory } from './history.js';
import { serveApi, simForwarder } from './rpc.js';

/** A pino-shaped logger that writes to the world's trace (or nowhere). */
function traceLogger(world: SimWorld, name: string): Logger {
  const line = (level: string) => (obj: unknown, msg?: string) =>
    world.trace(
      () =>
        `${name} ${level} ${typeof obj === 'string' ? obj : `${msg ?? ''} ${JSON.stringify(obj)}`}`,
    );
  const l = {
    trace: () => undefined,
    debug: world.tracing ? line('debug') : () => undefined,
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    fatal: line('fatal'),
    child: () => l,
  };
  return l as unknown as Logger;
}

export interface SimNodeState {
  readonly id: string;
  readonly disk: SimDisk;
  host?: SimHost;
  node?: LockNode;
  /** Restarts so far. */
  starts: number;
}

export interface LockClusterOptions {
  readonly electionTimeoutMinMs: number;
  readonly electionTimeoutMaxMs: number;
  readonly heartbeatIntervalMs: number;
  readonly checkpointIntervalMs: number;
  readonly snapshotEntries: number;
}

/** The identity the nodes count as an admin, who may use any lease. */
export const ADMIN = 'ops';

export const simNodeDefaults: LockClusterOptions = {
  electionTimeoutMinMs: 150,
  electionTimeoutMaxMs: 300,
  heartbeatIntervalMs: 50,
  checkpointIntervalMs: 250,
  snapshotEntries: 60,
};

/** Nodes n1..nN, each a process on its own host with its own disk; ids double as addresses. */
export class SimLockCluster {
  readonly nodes = new Map<string, SimNodeState>();
  /** Raft's safety properties, checked as the nodes persist, send and lead (test/sim/checker.ts). */
  readonly raftChecker: SafetyChecker;

  /** Every node: the bootstrap voters (ids), then spares that start empty and join. */
  readonly all: readonly string[];

  constructor(
    readonly world: SimWorld,
    readonly net: SimNetwork,
    readonly ids: readonly string[],
    private readonly history: LockHistory,
    private readonly opts: LockClusterOptions = simNodeDefaults,
    readonly spares: readonly string[] = [],
  ) {
    this.raftChecker = new SafetyChecker((v) => world.fail(v));
    this.all = [...ids, ...spares];
    for (const id of this.all) {
      const disk = new SimDisk(world);
      disk.onDurable = (w) => {
        const mem = disk.mem;
        if (w.kind !== 'save') return;
        const { entries = [], hardState, snapshot } = w.batch;
        for (const e of entries) this.raftChecker.onPersistedEntry(id, e, mem.termAt(e.index - 1));
        if (snapshot) this.raftChecker.onCommit(id, snapshot.meta.index, snapshot.meta.term);
        if (hardState) this.raftChecker.onDurableHardState(id, hardState);
        if (hardState && hardState.commit > mem.snapshotIndex())
          this.raftChecker.onCommit(id, hardState.commit, mem.termAt(hardState.commit)!);
      };
      this.nodes.set(id, { id, disk, starts: 0 });
    }
  }

  /** Starts a new process for id on its disk (the durable state of its previous one). */
  start(id: string): void {
    const s = this.nodes.get(id)!;
    const host = this.world.spawn(id);
    s.host = host;
    s.node = undefined;
    s.starts++;
    const storage = s.disk.storage(host);
    const raw = new SimTransport(host, this.net, {
      readSnapshot: () => storage.readSnapshot(),
      receiveSnapshot: (meta, chunks) => storage.receiveSnapshot(meta, chunks),
    });
    const durable = {
      hardState: () => s.disk.mem.hardStateSync(),
      lastIndex: () => s.disk.mem.lastIndex(),
    };
    // What the node sends is checked against its disk as it leaves (persist before reply).
    const transport: Transport = {
      start: () => raw.start(),
      stop: () => raw.stop(),
      onMessage: (h) => raw.onMessage(h),
      onUnreachable: (h) => raw.onUnreachable(h),
      onSnapshotStatus: (h) => raw.onSnapshotStatus(h),
      send: (m) => {
        this.raftChecker.onSend(id, m, durable);
        raw.send(m);
      },
    };
    const options: LockNodeOptions = {
      id,
      clientAddress: id,
      peerAddress: id,
      peers: Object.fromEntries(this.ids.map((p) => [p, p])),
      join: this.spares.includes(id),
      dataDir: '',
      electionTimeoutMinMs: this.opts.electionTimeoutMinMs,
      electionTimeoutMaxMs: this.opts.electionTimeoutMaxMs,
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      checkpointIntervalMs: this.opts.checkpointIntervalMs,
      snapshotEntries: this.opts.snapshotEntries,
      limits: { ...defaultLimits, maxWaitersPerLock: 64, maxStreams: 64 },
      logger: traceLogger(this.world, host.name),
      isAdmin: (principal) => principal === ADMIN,
    };
    let ids = 0;
    const rand = this.world.rand;
    const seed = Math.floor(rand() * 2 ** 31);
    host.run(() => {
      LockNode.start(options, {
        storage,
        transport,
        forward: simForwarder(host, this.net, id),
        runtime: host,
        ids: { next: () => simId(this.all.indexOf(id), host.incarnation, ++ids) },
        seed,
      }).then(
        (node) => {
          if (host.crashed) return;
          s.node = node;
          this.observe(id, host, node);
          const mem = s.disk.mem;
          node.raft.on('role', (role: Role, term: number) => {
            if (role !== Role.Leader) return;
            this.raftChecker.onLeader(term, id);
            this.raftChecker.onLeaderVoters(term, id, node.raft.status().voters);
            // Everything before the new leader's no-op is durable: check the log on its disk.
            this.raftChecker.checkLeaderLog(
              id,
              term,
              (i) => mem.termAt(i),
              mem.snapshotIndex(),
              mem.lastIndex(),
            );
          });
          node.raft.on('fatal', (e: Error) =>
            this.world.fail(new Error(`${id} failed: ${e.stack}`)),
          );
          serveApi(host, this.net, node.api);
        },
        (e: unknown) => this.world.fail(e),
      );
    });
  }

  /** Whether a process runs for id (started, not crashed). */
  running(id: string): boolean {
    const h = this.nodes.get(id)?.host;
    return h !== undefined && !h.crashed;
  }

  crash(id: string): void {
    const s = this.nodes.get(id)!;
    s.host?.crash();
    s.node = undefined;
  }

  /** The node that leads with its duties started, if exactly one does and it is not frozen. */
  leader(): { id: string; node: LockNode; host: SimHost } | undefined {
    for (const s of this.nodes.values())
      if (s.node && s.host && !s.host.crashed && s.node.duties.active)
        return { id: s.id, node: s.node, host: s.host };
    return undefined;
  }

  /**
   * Rotates the membership one step on the leader, keeping `ids.length` voters between steps:
   * a node outside joins as a learner, is promoted, then a voter (the leader too) is removed and
   * later re-added with its old data. Each change the leader appends is checked against the
   * configuration it replaces. Returns what was asked, if anything.
   */
  changeMembership(pick: <T>(xs: readonly T[]) => T): string | undefined {
    const l = this.leader();
    if (!l) return undefined;
    const raft = l.node.raft;
    const m = raft.membership();
    const voters = votersOf(m);
    const [learner] = learnersOf(m);
    const outside = this.all.filter((id) => !m.members.some((x) => x.id === id));
    let change: MembershipChange;
    if (learner !== undefined) change = { type: 'promote', id: learner };
    else if (voters.length > this.ids.length) change = { type: 'remove', id: pick(voters) };
    else if (outside.length > 0) change = { type: 'addLearner', id: pick(outside), address: '' };
    else return undefined;
    l.host.run(() => {
      if (!raft.isLeader()) return;
      const before = raft.membership();
      const commit = raft.status().commit;
      raft.proposeMembership(change).catch(() => undefined);
      const after = raft.membership();
      if (after === before) return;
      this.raftChecker.onMembershipChange(
        l.id,
        { index: before.index, voters: votersOf(before) },
        { index: after.index, voters: votersOf(after) },
        commit,
      );
    });
    return `${change.type} ${change.id} on ${l.id}`;
  }

  /** Running nodes that think they lead (more than one only across a partition). */
  leaders(): string[] {
    return [...this.nodes.values()]
      .filter((s) => s.node && !s.host?.crashed && s.node.raft.status().role === Role.Leader)
      .map((s) => s.id);
  }

  private observe(id: string, host: SimHost, node: LockNode): void {
    let current: { index: number; term: number; clock: number; events: unknown[] } | undefined;
    const finish = () => {
      if (current) this.history.compare(id, current.index, current.events);
    };
    node.bus.on('metrics', (e) => {
      if (e.type === 'stamp') {
        finish();
        current = { index: e.index, term: e.term, clock: e.clock, events: [] };
        this.history.applied({
          node: id,
          index: e.index,
          term: e.term,
          clock: e.clock,
          at: this.world.now,
          events: current.events as never,
        });
      } else if (e.type === 'restored') {
        finish();
        current = undefined;
      } else if (current && e.type !== 'leader_term') {
        current.events.push(e);
      }
    });
    void host;
  }
}

/**
 * An id as a leader makes them, 16 hex digits (so that the state's tables keep them as words,
 * as in production), unique per node, incarnation and count: node (2 digits), incarnation (6),
 * count (8).
 */
function simId(node: number, incarnation: number, n: number): string {
  const hex = (v: number, digits: number) => v.toString(16).padStart(digits, '0');
  return hex(node, 2) + hex(incarnation, 6) + hex(n, 8);
}
