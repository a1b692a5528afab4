import { type RaftNodeStatus, TransferNotPossibleError } from '../../../../libs/raft/src/index.js';
import * as api from './api.js';
import { Code, DomainError, invalidArgument, notLeaseOwner, unavailable } from './errors.js';
import type { LeaderDuties, MutexRequest } from './leader-duties.js';
import { holdersOf, limitOf } from './lock-kinds.js';
import { wholeMs } from './state-machine.js';
import type { MembershipApi } from './membership-api.js';
import type { LeaderRouter } from './router.js';
import type { LockStateView } from './state-view.js';
import { type StreamHub, toLeaderResponse } from './stream-hub.js';
import {
  checkHoldKind,
  checkLeaseId,
  checkName,
  checkOptional,
  checkWait,
  grantedTtl,
  minTtl,
} from './validation.js';

/** What the API needs of the Raft node. */
export interface ApiRaft {
  status(): RaftNodeStatus;
  leaderId(): string;
  /** Read barrier (ReadIndex); rejects with a DomainError. */
  barrier(): Promise<void>;
  transferLeadership(to: string): Promise<void>;
  /**
   * The bytes of a backup file of the state as of now; throws, or its iterator does, when the
   * node's own snapshot (or another backup) takes the state machine's one view.
   */
  backup(): Iterator<Uint8Array>;
}

export interface ApiOptions {
  readonly id: string;
  readonly clientAddress: string;
  readonly electionTimeoutMaxMs: number;
}

/**
 * The LockApi: validates each request (INVALID_ARGUMENT naming the field), routes it to the
 * leader, and maps between the wire's shapes and the leader's duties. Holds no state.
 */
export class LockApiService implements api.LockApi {
  private readonly minTtlMs: number;

  constructor(
    private readonly opts: ApiOptions,
    private readonly raft: ApiRaft,
    private readonly membership: MembershipApi,
    private readonly state: LockStateView,
    private readonly duties: LeaderDuties,
    private readonly router: LeaderRouter,
    private readonly hub: StreamHub,
    readonly isServing: () => boolean,
  ) {
    this.minTtlMs = minTtl(opts.electionTimeoutMaxMs);
  }

  private mutexRequest(
    name: string,
    owner: string,
    value: string,
    r: { ttl_ms: unknown; wait_ms: unknown; request_id: unknown; lease_id: unknown },
  ): MutexRequest {
    return {
      name,
      owner,
      value,
      ttl: grantedTtl('ttl_ms', r.ttl_ms, this.minTtlMs),
      waitMs: checkWait('wait_ms', r.wait_ms),
      requestId: checkOptional('request_id', r.request_id, 64),
      leaseId: checkLeaseId('lease_id', r.lease_id, false),
    };
  }

  // ---- locks ---------------------------------------------------------------------------------

  acquire(req: api.AcquireRequest, ctx: api.CallContext): Promise<api.AcquireResponse> {
    const name = checkName('name', req.name, 256);
    const f = this.mutexRequest(name, checkName('owner', req.owner, 128), '', req);
    f.hold = checkHoldKind(req);
    return this.router.route('LockService', 'Acquire', req, ctx, async () => {
      const o = await this.duties.acquire('lock', f, ctx);
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
    // Through the log: committing the renewal confirms leadership after the request arrived,
    // and its stamp starts the new TTL, which every later leader continues from.
    return this.router.route('LockService', 'Renew', req, ctx, async () => ({
      lease_id: leaseId,
      ttl_ms: await this.duties.renew(leaseId, ctx),
    }));
  }

  release(req: api.ReleaseRequest, ctx: api.CallContext): Promise<api.ReleaseResponse> {
    const leaseId = checkLeaseId('lease_id', req.lease_id, true);
    const name = req.name ? checkName('name', req.name, 256) : '';
    return this.router.route('LockService', 'Release', req, ctx, async () => {
      const by = this.duties.caller(ctx);
      const r = await this.duties.propose({
        op: 'release',
        kind: 'lock',
        lease_id: leaseId,
        name,
        by,
      });
      if (r.status === 'not_owner') throw notLeaseOwner('lock', leaseId);
      return { released: r.status === 'ok' && r.released === true };
    });
  }

  describe(req: api.DescribeRequest, ctx: api.CallContext): Promise<api.DescribeResponse> {
    const name = checkName('name', req.name, 256);
    return this.router.route('LockService', 'Describe', req, ctx, async () => {
      await this.raft.barrier();
      return this.describeLock(name);
    });
  }

  private describeLock(name: string): api.DescribeResponse {
    const m = this.state.mutex('lock', name);
    const holders = m ? holdersOf(m) : [];
    const modeOf = (h: { shared?: true }) =>
      h.shared ? api.LockMode.LOCK_MODE_SHARED : api.LockMode.LOCK_MODE_EXCLUSIVE;
    const described: api.DescribeResponse = {
      held: Boolean(m?.holder),
      owner: '',
      fencing_token: 0,
      remaining_ms: 0,
      waiters: m?.queue.length ?? 0,
      mode: api.LockMode.LOCK_MODE_EXCLUSIVE,
      limit: m && (m.holder || m.queue.length > 0) ? limitOf(m) : 0,
      holders: holders.map((h) => ({
        owner: h.owner,
        fencing_token: h.token,
        remaining_ms: this.duties.remainingMs(h.lease_id),
        mode: modeOf(h),
      })),
    };
    const oldest = described.holders[0];
    if (oldest) return { ...described, ...oldest };
    // Not held: a name in its lock-delay tells how long the delay has left.
    const until = m?.delayed_until;
    if (until !== undefined) described.remaining_ms = wholeMs(until - this.duties.clock.now());
    return described;
  }

  watch(req: api.WatchRequest, _ctx: api.CallContext): AsyncIterable<api.LockEvent> {
    const prefix = checkOptional('prefix', req.prefix, 256);
    this.needLeader();
    return this.hub.watch(prefix);
  }

  openKeepAlive(_ctx: api.CallContext): () => void {
    return this.hub.openKeepAlive();
  }

  // ---- elections -----------------------------------------------------------------------------

  campaign(req: api.CampaignRequest, ctx: api.CallContext): Promise<api.CampaignResponse> {
    const name = checkName('election', req.election, 256);
    const candidate = checkName('candidate', req.candidate, 128);
    const f = this.mutexRequest(name, candidate, checkOptional('value', req.value, 4096), req);
    return this.router.route('ElectionService', 'Campaign', req, ctx, async () => {
      const o = await this.duties.acquire('election', f, ctx);
      return { elected: o.granted, lease_id: o.lease_id, fencing_token: o.token, ttl_ms: o.ttl_ms };
    });
  }

  proclaim(req: api.ProclaimRequest, ctx: api.CallContext): Promise<api.ProclaimResponse> {
    const name = checkName('election', req.election, 256);
    const leaseId = checkLeaseId('lease_id', req.lease_id, true);
    const value = checkOptional('value', req.value, 4096);
    return this.router.route('ElectionService', 'Proclaim', req, ctx, async () => {
      const by = this.duties.caller(ctx);
      const r = await this.duties.propose({ op: 'proclaim', name, lease_id: leaseId, value, by });
      if (r.status === 'not_owner') throw notLeaseOwner('elect', leaseId);
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
    return this.router.route('ElectionService', 'Resign', req, ctx, async () => {
      const r = await this.duties.propose({
        op: 'release',
        kind: 'election',
        lease_id: leaseId,
        name,
        by: this.duties.caller(ctx),
      });
      if (r.status === 'not_owner') throw notLeaseOwner('elect', leaseId);
      return { resigned: r.status === 'ok' && r.released === true };
    });
  }

  leader(req: api.LeaderRequest, ctx: api.CallContext): Promise<api.LeaderResponse> {
    const name = checkName('election', req.election, 256);
    return this.router.route('ElectionService', 'Leader', req, ctx, async () => {
      await this.raft.barrier();
      return this.electionLeader(name);
    });
  }

  private electionLeader(name: string): api.LeaderResponse {
    const h = this.state.mutex('election', name)?.holder;
    return toLeaderResponse(h ? { candidate: h.owner, value: h.value, token: h.token } : null);
  }

  observe(req: api.LeaderRequest, ctx: api.CallContext): AsyncIterable<api.LeaderResponse> {
    const name = checkName('election', req.election, 256);
    this.needLeader();
    // The leader's applied state holds every acknowledged write; a follower's may lag by up to
    // a heartbeat, and would start with state older than a Campaign its client was answered.
    const ready = () =>
      this.duties.active ? Promise.resolve() : this.router.catchUpWithLeader(ctx);
    return this.hub.observe(name, ready, () => this.electionLeader(name));
  }

  private needLeader(): void {
    if (!this.raft.leaderId()) throw unavailable('no leader is known');
  }

  // ---- cluster -------------------------------------------------------------------------------

  listMembers(req: api.ListMembersRequest, ctx: api.CallContext): Promise<api.MembersResponse> {
    return this.router.route('ClusterService', 'ListMembers', req, ctx, async () => {
      await this.raft.barrier();
      return this.membership.response();
    });
  }

  addMember(req: api.AddMemberRequest, ctx: api.CallContext): Promise<api.MembersResponse> {
    const change = this.membership.checkAdd(req);
    return this.router.route('ClusterService', 'AddMember', req, ctx, () =>
      this.membership.add(change),
    );
  }

  promoteMember(req: api.PromoteMemberRequest, ctx: api.CallContext): Promise<api.MembersResponse> {
    const id = this.membership.checkId(req.id);
    return this.router.route('ClusterService', 'PromoteMember', req, ctx, () =>
      this.membership.change({ type: 'promote', id }),
    );
  }

  snapshot(_req: api.SnapshotRequest, _ctx: api.CallContext): AsyncIterable<api.SnapshotChunk> {
    const leader = this.raft.leaderId();
    if (leader === '') throw unavailable('no leader is known');
    if (!this.duties.active) {
      if (leader === this.opts.id) throw unavailable('this node is becoming the leader');
      const at = this.state.memberAddress(leader);
      throw new DomainError(
        Code.FAILED_PRECONDITION,
        `not the leader: take the snapshot from the leader, ${leader}${at ? ` at ${at}` : ''}`,
      );
    }
    const raft = this.raft;
    // Another view of the state began (the node's own snapshot, or a newer backup): retry.
    const superseded = (e: unknown) =>
      unavailable(`the snapshot was interrupted (${(e as Error).message})`);
    return (async function* () {
      await raft.barrier();
      let bytes: Iterator<Uint8Array>;
      try {
        bytes = raft.backup();
      } catch (e) {
        throw superseded(e);
      }
      try {
        for (;;) {
          let next: IteratorResult<Uint8Array>;
          try {
            next = bytes.next();
          } catch (e) {
            throw superseded(e);
          }
          if (next.done) return;
          yield { data: next.value };
        }
      } finally {
        bytes.return?.();
      }
    })();
  }

  removeMember(req: api.RemoveMemberRequest, ctx: api.CallContext): Promise<api.MembersResponse> {
    const id = this.membership.checkId(req.id);
    return this.router.route('ClusterService', 'RemoveMember', req, ctx, () =>
      this.membership.change({ type: 'remove', id }),
    );
  }

  status(_req: api.StatusRequest, _ctx: api.CallContext): Promise<api.StatusResponse> {
    const s = this.raft.status();
    return Promise.resolve({
      id: s.id,
      role: s.role,
      term: s.term,
      leader_id: s.leader,
      leader_client_address: s.leader ? (this.state.memberAddress(s.leader) ?? '') : '',
      commit_index: s.commit,
      applied_index: s.applied,
      members: this.membership.members(),
    });
  }

  transferLeadership(
    req: api.TransferLeadershipRequest,
    ctx: api.CallContext,
  ): Promise<api.TransferLeadershipResponse> {
    const target = typeof req.id === 'string' ? req.id : '';
    if (target && !this.membership.isMember(target))
      throw invalidArgument('id', `unknown node ${JSON.stringify(target)}`);
    return this.router.route('ClusterService', 'TransferLeadership', req, ctx, async () => {
      const s = this.raft.status();
      const to =
        target ||
        Object.entries(s.progress)
          .filter(([id]) => s.voters.includes(id))
          .sort((a, b) => b[1].matchIndex - a[1].matchIndex)[0]?.[0];
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
