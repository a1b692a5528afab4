import { join } from 'node:path';
import {
  GrpcTransport,
  LeadershipLostError,
  NotLeaderError,
  ProposalDroppedError,
  RaftNode,
  RocksDbStorage,
  TransferNotPossibleError,
} from '../../../../libs/raft/src/index.js';
import * as api from './api.js';
import { AsyncQueue } from './async-queue.js';
import {
  type ApplyResult,
  type Command,
  encodeCommand,
  type UnstampedCommand,
} from './commands.js';
import { Code, compacted, DomainError, exhausted, invalidArgument, unavailable } from './errors.js';
import type { SmEvent } from './events.js';
import { Forwarder } from './forwarder.js';
import { Leadership } from './leadership.js';
import type { LockNodeOptions } from './options.js';
import { LockStateMachine } from './state-machine.js';
import {
  checkLeaseId,
  checkName,
  checkOptional,
  checkWait,
  grantedTtl,
  minTtl,
} from './validation.js';

/** How often the leader looks for due leases (and leases its waiting calls must keep). */
const LEASE_SCAN_MS = 25;
const STREAM_BUFFER = 10_000;
/** How often a follower checks that the log knows its client address, and retries. */
const ANNOUNCE_CHECK_MS = 250;
const ANNOUNCE_RETRY_MS = 2_000;
/** How long a follower's Observe may take to catch up with the leader before it fails. */
const CATCH_UP_MS = 5_000;

/**
 * One member of the lock service: the replicated lock state on a Raft node, the leader's lease
 * clock, and the LockApi the gRPC layer calls. Any node answers: followers forward to the leader.
 */
export class LockNode implements api.LockApi {
  readonly sm = new LockStateMachine();
  private readonly leadership: Leadership;
  /** Open Watch/Observe streams and the handler that feeds each from applied events. */
  private readonly streams = new Map<{ fail(e: Error): void }, (e: SmEvent) => void>();
  private readonly forwarder: Forwarder;
  /** Members whose client address the leader is writing to the log. */
  private readonly announcing = new Set<string>();
  private lastAnnounce = 0;
  private readonly minTtlMs: number;
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;
  /** Set when storage failed: the node can no longer keep its promises. */
  private failure: Error | undefined;
  private readonly fatalListeners: ((e: Error) => void)[] = [];
  raft!: RaftNode<ApplyResult>;

  private constructor(private readonly opts: LockNodeOptions) {
    this.minTtlMs = minTtl(opts.electionTimeoutMaxMs);
    this.forwarder = new Forwarder({ id: opts.id, clientAddress: opts.clientAddress });
    this.leadership = new Leadership(
      this.sm,
      () => this.raft,
      opts,
      (c) => this.proposeStamped(c),
    );
    this.sm.onEvent((e) => this.onSmEvent(e));
  }

  static async start(opts: LockNodeOptions): Promise<LockNode> {
    const node = new LockNode(opts);
    const log = opts.logger;
    const storage = await RocksDbStorage.open(join(opts.dataDir, 'raft'), opts.id);
    const transport = new GrpcTransport({
      id: opts.id,
      listenAddress: opts.peerAddress,
      peers: opts.peers,
      readSnapshot: () => storage.readSnapshot(),
      logger: { warn: (o, m) => log.warn(o, m) },
    });
    node.raft = await RaftNode.start<ApplyResult>({
      id: opts.id,
      voters: Object.keys(opts.peers),
      storage,
      transport,
      stateMachine: node.sm,
      electionTimeoutMinMs: opts.electionTimeoutMinMs,
      electionTimeoutMaxMs: opts.electionTimeoutMaxMs,
      heartbeatIntervalMs: opts.heartbeatIntervalMs,
      // A snapshot serialises the whole state: space them out as the state grows, so that
      // their cost per entry stays flat (and one never stalls the leader for long).
      snapshotDue: (since) =>
        since >= Math.max(opts.snapshotEntries, 2 * (node.sm.leases.size + node.sm.mutexes.size)),
      // Entries kept behind a snapshot for slightly lagging followers: never more than a snapshot
      // interval, so that a small --snapshot-entries also means small logs.
      snapshotRetainEntries: Math.min(1_000, opts.snapshotEntries),
      logger: log,
    });
    node.raft.on('role', (role: string) => role !== 'leader' && node.leadership.stepDown());
    node.raft.on('leader', (leader: string) => {
      if (!leader) node.endStreams(unavailable('this node lost the cluster leader'));
    });
    node.raft.on('fatal', (e: Error) => {
      node.failure = e;
      log.fatal({ err: e.message }, 'raft node failed: this node no longer serves');
      for (const fn of node.fatalListeners) fn(e);
    });
    node.timers.push(setInterval(() => node.leadership.onTimer(), LEASE_SCAN_MS));
    node.timers.push(setInterval(() => node.announce(), ANNOUNCE_CHECK_MS));
    return node;
  }

  async stop(o: { transferLeadership?: boolean } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    await this.raft.stop({ transferLeadership: o.transferLeadership });
    this.leadership.stepDown();
    this.endStreams(unavailable('node is shutting down'));
    this.forwarder.close();
  }

  /** Called once if the node fails beyond repair (a storage write failed). */
  onFatal(fn: (e: Error) => void): void {
    this.fatalListeners.push(fn);
  }

  isServing(): boolean {
    const s = this.raft.status();
    return !this.stopping && !this.failure && s.leader !== '' && s.applied >= s.commit;
  }

  // ---- leadership ----------------------------------------------------------------------------

  private onSmEvent(e: SmEvent): void {
    this.leadership.onEvent(e);
    for (const feed of this.streams.values()) feed(e);
    if (e.type === 'lease_gone' && e.expired) {
      this.opts.logger.info({ lease: e.lease_id, locks: e.holds }, 'lease expired');
    }
    // A snapshot replaced the state: the changes it covers were never applied here, so streams
    // fed by applied changes cannot continue without a gap. They end with a status of their own,
    // on which clients re-read and subscribe again.
    if (e.type === 'restored') this.endStreams(compacted());
  }

  // ---- plumbing ------------------------------------------------------------------------------

  /** Proposes through the leader's duties, which stamp the lease clock on every command. */
  private propose(cmd: UnstampedCommand): Promise<ApplyResult> {
    return this.leadership.propose(cmd);
  }

  private async proposeStamped(cmd: Command): Promise<ApplyResult> {
    try {
      return (await this.raft.propose(encodeCommand(cmd))).result;
    } catch (e) {
      throw raftError(e);
    }
  }

  private async barrier(): Promise<void> {
    try {
      await this.raft.read();
    } catch (e) {
      throw raftError(e);
    }
  }

  /** Runs local() on the leader; elsewhere forwards the call to the leader's client address. */
  private async route<T>(
    service: 'LockService' | 'ElectionService' | 'ClusterService',
    method: string,
    req: unknown,
    ctx: api.CallContext,
    local: () => Promise<T>,
  ): Promise<T> {
    if (ctx.deadline !== undefined && ctx.deadline <= performance.now()) {
      throw new DomainError(
        Code.DEADLINE_EXCEEDED,
        'deadline exceeded before the call was handled',
      );
    }
    if (this.leadership.active) {
      if (ctx.forwardedBy) this.learnMember(ctx.forwardedBy);
      return local();
    }
    if (this.raft.isLeader()) throw unavailable('the leader is still starting its term');
    if (ctx.forwarded) throw unavailable('not the leader');
    const leader = this.raft.leaderId();
    const address = leader ? this.sm.members.get(leader) : undefined;
    if (!address) throw unavailable('no leader is known');
    return this.forwarder.call<T>(address, service, method, req, ctx);
  }

  /**
   * A follower serves clients too, and forwards to the leader: its client address must be in
   * the members list. Until the log has it, the follower makes a forwarded read now and then;
   * forwarded calls name their member (see learnMember).
   */
  private announce(): void {
    if (this.stopping || this.leadership.active) return;
    if (this.sm.members.get(this.opts.id) === this.opts.clientAddress) return;
    const leader = this.raft.leaderId();
    const address = leader ? this.sm.members.get(leader) : undefined;
    const now = performance.now();
    if (!address || now - this.lastAnnounce < ANNOUNCE_RETRY_MS) return;
    this.lastAnnounce = now;
    const ctx: api.CallContext = { deadline: now + ANNOUNCE_RETRY_MS };
    this.forwarder
      .call(address, 'ClusterService', 'ListMembers', {}, ctx)
      .catch((e: Error) => this.opts.logger.debug({ err: e.message }, 'announce to leader failed'));
  }

  /** The leader writes a forwarding member's client address to the log if it is new. */
  private learnMember(by: { id: string; clientAddress: string }): void {
    if (!(by.id in this.opts.peers) || this.sm.members.get(by.id) === by.clientAddress) return;
    if (this.announcing.has(by.id)) return;
    this.announcing.add(by.id);
    this.propose({ op: 'member', id: by.id, client_address: by.clientAddress })
      .catch((e: Error) => this.opts.logger.debug({ err: e.message }, 'member address not written'))
      .finally(() => this.announcing.delete(by.id));
  }

  /** Opens a stream fed by feed(event, queue) for every applied event until it closes. */
  private newStream<T>(feed: (e: SmEvent, q: AsyncQueue<T>) => void): AsyncQueue<T> {
    if (this.streams.size >= this.opts.limits.maxStreams)
      throw exhausted('too many open streams on this node');
    if (!this.raft.leaderId()) throw unavailable('no leader is known');
    const q: AsyncQueue<T> = new AsyncQueue<T>(STREAM_BUFFER, () => this.streams.delete(q));
    this.streams.set(q, (e) => feed(e, q));
    return q;
  }

  /**
   * KeepAlive streams count against --max-streams too (its documented meaning): without this,
   * only Watch and Observe took a slot and a client could open KeepAlive streams without bound.
   * The slot has no events to feed and nothing to end when the leader is lost (renewals on the
   * stream fail by themselves then).
   */
  openKeepAlive(_ctx: api.CallContext): () => void {
    if (this.streams.size >= this.opts.limits.maxStreams)
      throw exhausted('too many open streams on this node');
    const slot = { fail: () => undefined };
    this.streams.set(slot, () => undefined);
    return () => this.streams.delete(slot);
  }

  private endStreams(e: Error): void {
    for (const q of [...this.streams.keys()]) q.fail(e);
  }

  // ---- locks and elections -------------------------------------------------------------------

  acquire(req: api.AcquireRequest, ctx: api.CallContext): Promise<api.AcquireResponse> {
    const f = {
      name: checkName('name', req.name, 256),
      owner: checkName('owner', req.owner, 128),
      value: '',
      ttl: grantedTtl('ttl_ms', req.ttl_ms, this.minTtlMs),
      waitMs: checkWait('wait_ms', req.wait_ms),
      requestId: checkOptional('request_id', req.request_id, 64),
      leaseId: checkLeaseId('lease_id', req.lease_id, false),
    };
    return this.route('LockService', 'Acquire', req, ctx, async () => {
      const o = await this.leadership.acquire('lock', f, ctx);
      return {
        acquired: o.granted,
        lease_id: o.lease_id,
        fencing_token: o.token,
        ttl_ms: o.ttl_ms,
        holder: o.holder,
      };
    });
  }

  renew(req: api.RenewRequest, ctx: api.CallContext): Promise<api.RenewResponse> {
    const leaseId = checkLeaseId('lease_id', req.lease_id, true);
    return this.route('LockService', 'Renew', req, ctx, async () => {
      // Through the log: committing the renewal confirms leadership after the request arrived,
      // and its stamp starts the new TTL, which every later leader continues from.
      return { lease_id: leaseId, ttl_ms: await this.leadership.renew(leaseId) };
    });
  }

  release(req: api.ReleaseRequest, ctx: api.CallContext): Promise<api.ReleaseResponse> {
    const leaseId = checkLeaseId('lease_id', req.lease_id, true);
    const name = req.name ? checkName('name', req.name, 256) : '';
    return this.route('LockService', 'Release', req, ctx, async () => {
      const r = await this.propose({
        op: 'release',
        kind: 'lock',
        lease_id: leaseId,
        name,
      });
      return { released: r.status === 'ok' && r.released === true };
    });
  }

  describe(req: api.DescribeRequest, ctx: api.CallContext): Promise<api.DescribeResponse> {
    const name = checkName('name', req.name, 256);
    return this.route('LockService', 'Describe', req, ctx, async () => {
      await this.barrier();
      const m = this.sm.mutex('lock', name);
      if (!m?.holder)
        return { held: false, owner: '', fencing_token: 0, remaining_ms: 0, waiters: 0 };
      const remaining = this.leadership.remainingMs(m.holder.lease_id);
      return {
        held: true,
        owner: m.holder.owner,
        fencing_token: m.holder.token,
        remaining_ms: remaining,
        waiters: m.queue.length,
      };
    });
  }

  watch(req: api.WatchRequest, _ctx: api.CallContext): AsyncIterable<api.LockEvent> {
    const prefix = checkOptional('prefix', req.prefix, 256);
    return this.newStream<api.LockEvent>((e, q) => {
      if (e.type === 'lock' && e.name.startsWith(prefix)) {
        q.push({ name: e.name, type: e.event, owner: e.owner, fencing_token: e.token });
      }
    });
  }

  campaign(req: api.CampaignRequest, ctx: api.CallContext): Promise<api.CampaignResponse> {
    const f = {
      name: checkName('election', req.election, 256),
      owner: checkName('candidate', req.candidate, 128),
      value: checkOptional('value', req.value, 4096),
      ttl: grantedTtl('ttl_ms', req.ttl_ms, this.minTtlMs),
      waitMs: checkWait('wait_ms', req.wait_ms),
      requestId: checkOptional('request_id', req.request_id, 64),
      leaseId: checkLeaseId('lease_id', req.lease_id, false),
    };
    return this.route('ElectionService', 'Campaign', req, ctx, async () => {
      const o = await this.leadership.acquire('election', f, ctx);
      return { elected: o.granted, lease_id: o.lease_id, fencing_token: o.token, ttl_ms: o.ttl_ms };
    });
  }

  proclaim(req: api.ProclaimRequest, ctx: api.CallContext): Promise<api.ProclaimResponse> {
    const name = checkName('election', req.election, 256);
    const leaseId = checkLeaseId('lease_id', req.lease_id, true);
    const value = checkOptional('value', req.value, 4096);
    return this.route('ElectionService', 'Proclaim', req, ctx, async () => {
      const r = await this.propose({
        op: 'proclaim',
        name,
        lease_id: leaseId,
        value,
      });
      if (r.status !== 'ok')
        throw new DomainError(
          Code.FAILED_PRECONDITION,
          `lease ${leaseId} is not the leader of election ${name}`,
        );
      return {};
    });
  }

  resign(req: api.ResignRequest, ctx: api.CallContext): Promise<api.ResignResponse> {
    const name = checkName('election', req.election, 256);
    const leaseId = checkLeaseId('lease_id', req.lease_id, true);
    return this.route('ElectionService', 'Resign', req, ctx, async () => {
      const r = await this.propose({
        op: 'release',
        kind: 'election',
        lease_id: leaseId,
        name,
      });
      return { resigned: r.status === 'ok' && r.released === true };
    });
  }

  leader(req: api.LeaderRequest, ctx: api.CallContext): Promise<api.LeaderResponse> {
    const name = checkName('election', req.election, 256);
    return this.route('ElectionService', 'Leader', req, ctx, async () => {
      await this.barrier();
      return this.electionLeader(name);
    });
  }

  private electionLeader(name: string): api.LeaderResponse {
    const h = this.sm.mutex('election', name)?.holder;
    return h
      ? { has_leader: true, candidate: h.owner, value: h.value, fencing_token: h.token }
      : { has_leader: false, candidate: '', value: '', fencing_token: 0 };
  }

  observe(req: api.LeaderRequest, ctx: api.CallContext): AsyncIterable<api.LeaderResponse> {
    const name = checkName('election', req.election, 256);
    const toResponse = (
      h: { candidate: string; value: string; token: number } | null,
    ): api.LeaderResponse =>
      h
        ? { has_leader: true, candidate: h.candidate, value: h.value, fencing_token: h.token }
        : { has_leader: false, candidate: '', value: '', fencing_token: 0 };
    let started = false;
    const q = this.newStream<api.LeaderResponse>((e, q) => {
      if (started && e.type === 'election' && e.name === name) q.push(toResponse(e.leader));
    });
    // State first, then changes, both in log order: an older leader never follows a newer one.
    // Reading the state and starting the changes is one synchronous step, so nothing is missed
    // or sent twice. The leader's applied state holds every acknowledged write; a follower's may
    // lag by up to a heartbeat, and its "current state" then missed a Campaign the client had
    // already been answered (seen in about 1 in 4 Observes opened right after one), so a
    // follower first applies up to the leader's index.
    const start = () => {
      started = true;
      q.push(this.electionLeader(name));
    };
    if (this.leadership.active) start();
    else this.catchUpWithLeader(ctx).then(start, (e: Error) => q.fail(e));
    return q;
  }

  /**
   * Waits until this follower has applied every write acknowledged before the call: the leader
   * answers a linearizable read (Leader runs its read barrier), then reports its applied index,
   * which is at or past that barrier.
   */
  private async catchUpWithLeader(ctx: api.CallContext): Promise<void> {
    const leader = this.raft.leaderId();
    const address = leader ? this.sm.members.get(leader) : undefined;
    if (!address) throw unavailable('no leader is known');
    const until = performance.now() + CATCH_UP_MS;
    const bounded: api.CallContext = { deadline: until, signal: ctx.signal };
    await this.forwarder.call(address, 'ElectionService', 'Leader', { election: '-' }, bounded);
    const s = await this.forwarder.call<api.StatusResponse>(
      address,
      'ClusterService',
      'Status',
      {},
      bounded,
    );
    while (this.raft.status().applied < s.applied_index) {
      if (this.stopping || ctx.signal?.aborted || performance.now() > until)
        throw unavailable('this node is behind the leader');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The members as this node knows them: addresses from the log, progress if it leads. */
  private members(): api.Member[] {
    const s = this.raft.status();
    return Object.entries(this.opts.peers).map(([id, peer]) => ({
      id,
      peer_address: peer,
      client_address:
        this.sm.members.get(id) ?? (id === this.opts.id ? this.opts.clientAddress : ''),
      match_index: id === s.id ? s.lastIndex : (s.progress[id]?.matchIndex ?? 0),
      is_leader: id === s.leader,
    }));
  }

  listMembers(req: api.ListMembersRequest, ctx: api.CallContext): Promise<api.MembersResponse> {
    return this.route('ClusterService', 'ListMembers', req, ctx, async () => {
      await this.barrier();
      return { members: this.members(), leader_id: this.opts.id, config_index: 0 };
    });
  }

  async status(_req: api.StatusRequest, _ctx: api.CallContext): Promise<api.StatusResponse> {
    const s = this.raft.status();
    const leaderId = s.leader;
    const members = this.members();
    return {
      id: s.id,
      role: s.role,
      term: s.term,
      leader_id: leaderId,
      leader_client_address: leaderId ? (this.sm.members.get(leaderId) ?? '') : '',
      commit_index: s.commit,
      applied_index: s.applied,
      members,
    };
  }

  transferLeadership(
    req: api.TransferLeadershipRequest,
    ctx: api.CallContext,
  ): Promise<api.TransferLeadershipResponse> {
    const target = typeof req.id === 'string' ? req.id : '';
    if (target && !(target in this.opts.peers))
      throw invalidArgument('id', `unknown node ${JSON.stringify(target)}`);
    return this.route('ClusterService', 'TransferLeadership', req, ctx, async () => {
      const s = this.raft.status();
      const to =
        target ||
        Object.entries(s.progress).sort((a, b) => b[1].matchIndex - a[1].matchIndex)[0]?.[0];
      if (!to || to === s.id) return { leader_id: s.id };
      try {
        await this.raft.transferLeadership(to);
      } catch (e) {
        // The target is down or cut off: retrying at once cannot help, unlike a timeout.
        if (e instanceof TransferNotPossibleError)
          throw new DomainError(Code.FAILED_PRECONDITION, e.message);
        throw unavailable(`leadership transfer failed: ${(e as Error).message}`);
      }
      return { leader_id: to };
    });
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
