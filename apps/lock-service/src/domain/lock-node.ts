import {
  bootstrapMembership,
  LeadershipLostError,
  MembershipChangeError,
  NotLeaderError,
  ProposalDroppedError,
  RaftNode,
  Role,
  type Storage,
  type Transport,
} from '../../../../libs/raft/src/index.js';
import { BACKUP_FORMAT, backupBytes } from '../backup/backup-file.js';
import { LockApiService } from './api-service.js';
import type { StatusResponse } from './api.js';
import { ClusterView } from './cluster-view.js';
import { type ApplyResult, type Command, encodeCommand } from './commands.js';
import { DomainError, unavailable } from './errors.js';
import { EventBus } from './event-bus.js';
import { LeaderDuties } from './leader-duties.js';
import type { LockNodeOptions } from './options.js';
import { ANNOUNCE_CHECK_MS, type ForwardPort, LeaderRouter } from './router.js';
import { type IdSource, randomIds, type Runtime, systemRuntime, type Timer } from './runtime.js';
import { MembershipApi } from './membership-api.js';
import { LockStateMachine } from './state-machine.js';
import type { LockStateView } from './state-view.js';
import { StreamHub } from './stream-hub.js';
import { snapshotDue } from './snapshot-policy.js';
import { SNAPSHOT_VERSION } from './snapshot-format.js';

/** How often the leader looks for due leases (and leases its waiting calls must keep). */
const LEASE_SCAN_MS = 25;

/** The node's side effects: production gives RocksDB, gRPC and the system clock. */
export interface NodePorts {
  readonly storage: Storage;
  readonly transport: Transport;
  readonly forward: ForwardPort;
  readonly runtime?: Runtime;
  readonly ids?: IdSource;
  /** Seed of Raft's election-timeout draws (random by default). */
  readonly seed?: number;
  /** The cluster's id, for the header of backups ('' when there is none). */
  readonly clusterId?: () => string;
}

/**
 * One member of the lock service, composed: the replicated lock state on a Raft node, the event
 * bus that carries what it applies (in the order event-bus.ts states), the leader's duties, the
 * router to the leader, the stream hub, and the LockApi over them. Every side effect is a port.
 */
export class LockNode {
  readonly bus = new EventBus();
  private readonly sm = new LockStateMachine(this.bus.emit);
  readonly api: LockApiService;
  /** What the live view shows of the cluster, from this node. */
  readonly view: ClusterView;
  private readonly membership: MembershipApi;
  readonly duties: LeaderDuties;
  private readonly router: LeaderRouter;
  private readonly hub: StreamHub;
  private readonly runtime: Runtime;
  private readonly timers: { cancel(): void }[] = [];
  private stopping = false;
  /** Set when the Raft node failed: this node can no longer keep its promises. */
  private failure: Error | undefined;
  private readonly fatalListeners: ((e: Error) => void)[] = [];
  raft!: RaftNode<ApplyResult>;

  private constructor(
    private readonly opts: LockNodeOptions,
    private readonly ports: NodePorts,
  ) {
    this.runtime = ports.runtime ?? systemRuntime;
    const role = {
      isLeader: () => this.raft?.isLeader() ?? false,
      term: () => this.raft?.status().term ?? 0,
      leaderId: () => this.raft?.leaderId() ?? '',
      applied: () => this.raft?.applied ?? 0,
      isMember: (id: string) => this.raft?.membership().members.some((m) => m.id === id) ?? false,
      peerAddress: (id: string) =>
        this.raft?.membership().members.find((m) => m.id === id)?.address || undefined,
    };
    this.duties = new LeaderDuties(
      this.sm,
      role,
      opts,
      (c) => this.proposeStamped(c),
      this.runtime,
      ports.ids ?? randomIds,
    );
    this.hub = new StreamHub(opts.limits.maxStreams, opts.limits.maxStreamBufferBytes);
    this.router = new LeaderRouter(
      role,
      () => this.duties.active,
      this.sm,
      ports.forward,
      (c) => this.duties.propose(c),
      this.runtime,
      opts,
    );
    this.membership = new MembershipApi(
      opts,
      {
        status: () => this.raft.status(),
        membership: () => this.raft.membership(),
        barrier: () => this.barrier(),
        changeMembership: async (change) => {
          try {
            await this.raft.proposeMembership(change);
          } catch (e) {
            throw e instanceof MembershipChangeError ? e : raftError(e);
          }
        },
        recordClientAddress: async (id, client_address) => {
          await this.duties.propose({ op: 'member', id, client_address });
        },
      },
      this.sm,
    );
    this.api = new LockApiService(
      opts,
      {
        status: () => this.raft.status(),
        leaderId: () => this.raft.leaderId(),
        barrier: () => this.barrier(),
        transferLeadership: (to) => this.raft.transferLeadership(to),
        backup: () => this.backup(),
      },
      this.membership,
      this.sm,
      this.duties,
      this.router,
      this.hub,
      () => this.isServing(),
    );
    this.view = new ClusterView({
      id: opts.id,
      status: () => this.raft.status(),
      logTail: (max) => this.raft.logTail(max),
      mutexes: () => this.sm.allMutexes(),
      leases: () => this.sm.leases.values(),
      remainingMs: (leaseId) => this.duties.remainingMs(leaseId),
      // As the router reaches the leader: --peers first, then the configuration in force.
      peerAddress: (id) => (Object.hasOwn(opts.peers, id) ? opts.peers[id] : role.peerAddress(id)),
      peerStatus: (address, ctx) =>
        ports.forward.call<StatusResponse>(address, 'ClusterService', 'Status', {}, ctx),
    });
    this.duties.subscribe(this.bus);
    this.bus.on('streams', (e) => this.hub.onEvent(e));
    this.bus.on('log', (e) => {
      if (e.type === 'lease_gone' && e.expired)
        opts.logger.info({ lease: e.lease_id, locks: e.holds }, 'lease expired');
    });
  }

  static async start(opts: LockNodeOptions, ports: NodePorts): Promise<LockNode> {
    const node = new LockNode(opts, ports);
    const log = opts.logger;
    node.raft = await RaftNode.start<ApplyResult>({
      id: opts.id,
      // A node that joins waits to be added; once the log holds a configuration, that one rules
      // (a node added later may not be in --peers: its log has its configuration).
      voters: opts.join || !Object.hasOwn(opts.peers, opts.id) ? [] : Object.keys(opts.peers),
      addresses: opts.peers,
      storage: ports.storage,
      transport: ports.transport,
      stateMachine: node.sm,
      electionTimeoutMinMs: opts.electionTimeoutMinMs,
      electionTimeoutMaxMs: opts.electionTimeoutMaxMs,
      heartbeatIntervalMs: opts.heartbeatIntervalMs,
      snapshotDue: (since) => snapshotDue(since, node.sm.recordCount, opts.snapshotEntries),
      // Entries kept behind a snapshot for slightly lagging followers: never more than a snapshot
      // interval, so that a small --snapshot-entries also means small logs.
      snapshotRetainEntries: Math.min(1_000, opts.snapshotEntries),
      seed: ports.seed,
      runtime: node.runtime,
      logger: log,
    });
    node.raft.on('role', (role) => role !== Role.Leader && node.duties.stepDown());
    node.raft.on('leader', (leader) => {
      if (!leader) node.hub.endAll(unavailable('this node lost the cluster leader'));
    });
    node.raft.on('fatal', (e) => {
      node.failure = e;
      log.fatal({ err: e.message }, 'raft node failed: this node no longer serves');
      for (const fn of node.fatalListeners) fn(e);
    });
    node.every(LEASE_SCAN_MS, () => node.duties.onTimer());
    node.every(ANNOUNCE_CHECK_MS, () => node.router.announce());
    return node;
  }

  /** The replicated state, read-only. */
  get state(): LockStateView {
    return this.sm;
  }

  private every(ms: number, fn: () => void): void {
    let t: Timer;
    const run = () => {
      if (this.stopping) return;
      fn();
      t = this.runtime.after(ms, run);
    };
    t = this.runtime.after(ms, run);
    this.timers.push({ cancel: () => t.cancel() });
  }

  async stop(o: { transferLeadership?: boolean } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) t.cancel();
    await this.raft.stop({ transferLeadership: o.transferLeadership });
    this.duties.stepDown();
    this.hub.endAll(unavailable('node is shutting down'));
    this.router.stop();
  }

  /** Called once if the node fails beyond repair (a storage write failed, an invariant broke). */
  onFatal(fn: (e: Error) => void): void {
    this.fatalListeners.push(fn);
  }

  isServing(): boolean {
    const s = this.raft.status();
    return !this.stopping && !this.failure && s.leader !== '' && s.applied >= s.commit;
  }

  private async proposeStamped(cmd: Command): Promise<ApplyResult> {
    try {
      return (await this.raft.propose(encodeCommand(cmd))).result;
    } catch (e) {
      throw raftError(e);
    }
  }

  /** A backup file's bytes: the state as of the last applied entry, under a header. */
  private backup(): Iterator<Uint8Array> {
    const { meta, chunks } = this.raft.exportSnapshot();
    const t = this.sm.tally;
    const members = (
      meta.membership ?? bootstrapMembership(Object.keys(this.opts.peers), this.opts.peers)
    ).members;
    return backupBytes(
      {
        format: BACKUP_FORMAT,
        cluster_id: this.ports.clusterId?.() ?? '',
        index: meta.index,
        term: meta.term,
        state_format: SNAPSHOT_VERSION,
        taken_by: this.opts.id,
        // Wall-clock time, for the operator only: nothing replicated reads it.
        taken_at: new Date().toISOString(),
        counts: {
          leases: this.sm.leaseCount,
          locks_held: t.locksHeld,
          elections_led: t.electionsLed,
          waiters: t.lockWaiters + t.electionWaiters,
          max_token: t.maxToken,
        },
        members: members.map((m) => ({ id: m.id, address: m.address, learner: m.learner })),
      },
      chunks,
    );
  }

  private async barrier(): Promise<void> {
    try {
      await this.raft.read();
    } catch (e) {
      throw raftError(e);
    }
  }
}

function raftError(e: unknown): Error {
  if (e instanceof DomainError) return e;
  if (e instanceof NotLeaderError) return unavailable('not the leader');
  if (e instanceof LeadershipLostError)
    return unavailable('leadership changed; the outcome is unknown');
  if (e instanceof ProposalDroppedError) return unavailable('the leader is overloaded');
  return unavailable((e as Error).message);
}
