// Lock metrics. Two sources, on purpose: the replicated state (every node reports the same
// cluster-wide view, so dashboards take max() across nodes) and the client calls this node
// received (summed across nodes; forwarded calls are counted where the client sent them only).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type * as api from '../domain/api.js';
import { LockEventType } from '../domain/api.js';
import { Code, DomainError } from '../domain/errors.js';
import type { EventBus } from '../domain/event-bus.js';
import type { LockStateView } from '../domain/state-view.js';
import { computedGauge, LATENCY_BUCKETS, mirroredCounter, PREFIX } from './prom.js';

const ACQUIRE_RESULTS = ['granted', 'contended', 'timeout', 'error'] as const;
type AcquireResult = (typeof ACQUIRE_RESULTS)[number];

/** Gauges over the replicated lock state and counters of what its applied entries did. */
export function registerLockStateMetrics(
  register: Registry,
  sm: LockStateView,
  bus: EventBus,
): void {
  let leasesExpired = 0;
  let locksExpired = 0;
  bus.on('metrics', (e) => {
    if (e.type === 'lock') {
      if (e.event === LockEventType.EXPIRED) locksExpired++;
    } else if (e.type === 'lease_gone' && e.expired) {
      leasesExpired++;
    }
  });

  computedGauge(register, `${PREFIX}leases_active`, 'Leases alive in the replicated state.', () =>
    Number(sm.leaseCount),
  );
  computedGauge(
    register,
    `${PREFIX}locks_held`,
    'Locks that have a holder.',
    () => sm.tally.locksHeld,
  );
  computedGauge(
    register,
    `${PREFIX}elections_with_leader`,
    'Elections that have a leader.',
    () => sm.tally.electionsLed,
  );
  new Gauge({
    name: `${PREFIX}lock_waiters`,
    help: 'Requests queued behind a holder, by kind (lock or election).',
    labelNames: ['kind'],
    registers: [register],
    collect() {
      this.set({ kind: 'lock' }, sm.tally.lockWaiters);
      this.set({ kind: 'election' }, sm.tally.electionWaiters);
    },
  });
  computedGauge(
    register,
    `${PREFIX}fencing_token_max`,
    'Highest fencing token granted (tokens are log indexes, so they only grow).',
    () => sm.tally.maxToken,
  );
  mirroredCounter(
    register,
    `${PREFIX}leases_expired_total`,
    'Leases the leader expired (applied entries; each node counts the same ones).',
    () => leasesExpired,
  );
  mirroredCounter(
    register,
    `${PREFIX}locks_expired_total`,
    'Locks freed because their lease expired.',
    () => locksExpired,
  );
}

function isCode(e: unknown, code: Code): boolean {
  return e instanceof DomainError && e.code === code;
}

/** Per-call metrics of the LockApi; one instance per registry. */
export class LockCallMetrics {
  private readonly acquires: Counter<'result'>;
  private readonly acquireSeconds: Histogram<'wait'>;
  private readonly campaigns: Counter<'result'>;
  private readonly renewals: Counter<'result'>;
  private readonly releases: Counter<'result'>;

  constructor(register: Registry) {
    const counter = (name: string, help: string, results: readonly string[]) => {
      const c = new Counter({ name, help, labelNames: ['result'], registers: [register] });
      for (const result of results) c.inc({ result }, 0);
      return c;
    };
    this.acquires = counter(
      `${PREFIX}lock_acquires_total`,
      'Acquire calls by result: granted, contended (held, no wait), timeout (waited), error.',
      ACQUIRE_RESULTS,
    );
    this.campaigns = counter(
      `${PREFIX}election_campaigns_total`,
      'Campaign calls by result: granted, contended, timeout, error.',
      ACQUIRE_RESULTS,
    );
    this.renewals = counter(
      `${PREFIX}lease_renewals_total`,
      'Lease renewals (Renew and KeepAlive) by result: ok, not_found, error.',
      ['ok', 'not_found', 'error'],
    );
    this.releases = counter(
      `${PREFIX}lock_releases_total`,
      'Release calls by result: released, not_held, error.',
      ['released', 'not_held', 'error'],
    );
    this.acquireSeconds = new Histogram({
      name: `${PREFIX}lock_acquire_duration_seconds`,
      help: 'From an Acquire call to its grant; wait="true" when the call allowed queueing.',
      labelNames: ['wait'],
      buckets: LATENCY_BUCKETS,
      registers: [register],
    });
    for (const wait of ['true', 'false']) this.acquireSeconds.zero({ wait });
  }

  /** The LockApi with these metrics around it. */
  wrap(inner: api.LockApi): api.LockApi {
    return new MeteredLockApi(inner, this);
  }

  async acquisition<T>(
    kind: 'lock' | 'election',
    req: { wait_ms: number },
    ctx: api.CallContext,
    granted: (r: T) => boolean,
    call: () => Promise<T>,
  ): Promise<T> {
    if (ctx.forwarded) return call();
    const counter = kind === 'lock' ? this.acquires : this.campaigns;
    const waits = Number(req.wait_ms) > 0;
    const started = performance.now();
    let result: AcquireResult = 'error';
    try {
      const r = await call();
      result = granted(r) ? 'granted' : waits ? 'timeout' : 'contended';
      if (result === 'granted' && kind === 'lock') {
        const seconds = (performance.now() - started) / 1000;
        this.acquireSeconds.observe({ wait: String(waits) }, seconds);
      }
      return r;
    } catch (e) {
      if (isCode(e, Code.DEADLINE_EXCEEDED)) result = 'timeout';
      throw e;
    } finally {
      counter.inc({ result });
    }
  }

  async renewal<T>(ctx: api.CallContext, call: () => Promise<T>): Promise<T> {
    if (ctx.forwarded) return call();
    try {
      const r = await call();
      this.renewals.inc({ result: 'ok' });
      return r;
    } catch (e) {
      this.renewals.inc({ result: isCode(e, Code.NOT_FOUND) ? 'not_found' : 'error' });
      throw e;
    }
  }

  async release(ctx: api.CallContext, call: () => Promise<api.ReleaseResponse>) {
    if (ctx.forwarded) return call();
    try {
      const r = await call();
      this.releases.inc({ result: r.released ? 'released' : 'not_held' });
      return r;
    } catch (e) {
      this.releases.inc({ result: 'error' });
      throw e;
    }
  }
}

/** A LockApi decorator: measures the calls and passes everything through unchanged. */
class MeteredLockApi implements api.LockApi {
  constructor(
    private readonly inner: api.LockApi,
    private readonly m: LockCallMetrics,
  ) {}

  acquire(req: api.AcquireRequest, ctx: api.CallContext): Promise<api.AcquireResponse> {
    return this.m.acquisition(
      'lock',
      req,
      ctx,
      (r: api.AcquireResponse) => r.acquired,
      () => this.inner.acquire(req, ctx),
    );
  }
  renew(req: api.RenewRequest, ctx: api.CallContext): Promise<api.RenewResponse> {
    return this.m.renewal(ctx, () => this.inner.renew(req, ctx));
  }
  release(req: api.ReleaseRequest, ctx: api.CallContext): Promise<api.ReleaseResponse> {
    return this.m.release(ctx, () => this.inner.release(req, ctx));
  }
  describe(req: api.DescribeRequest, ctx: api.CallContext): Promise<api.DescribeResponse> {
    return this.inner.describe(req, ctx);
  }
  watch(req: api.WatchRequest, ctx: api.CallContext): AsyncIterable<api.LockEvent> {
    return this.inner.watch(req, ctx);
  }
  campaign(req: api.CampaignRequest, ctx: api.CallContext): Promise<api.CampaignResponse> {
    return this.m.acquisition(
      'election',
      req,
      ctx,
      (r: api.CampaignResponse) => r.elected,
      () => this.inner.campaign(req, ctx),
    );
  }
  proclaim(req: api.ProclaimRequest, ctx: api.CallContext): Promise<api.ProclaimResponse> {
    return this.inner.proclaim(req, ctx);
  }
  resign(req: api.ResignRequest, ctx: api.CallContext): Promise<api.ResignResponse> {
    return this.inner.resign(req, ctx);
  }
  leader(req: api.LeaderRequest, ctx: api.CallContext): Promise<api.LeaderResponse> {
    return this.inner.leader(req, ctx);
  }
  observe(req: api.LeaderRequest, ctx: api.CallContext): AsyncIterable<api.LeaderResponse> {
    return this.inner.observe(req, ctx);
  }
  openKeepAlive(ctx: api.CallContext): () => void {
    return this.inner.openKeepAlive(ctx);
  }
  status(req: api.StatusRequest, ctx: api.CallContext): Promise<api.StatusResponse> {
    return this.inner.status(req, ctx);
  }

  listMembers(req: api.ListMembersRequest, ctx: api.CallContext): Promise<api.MembersResponse> {
    return this.inner.listMembers(req, ctx);
  }
  addMember(req: api.AddMemberRequest, ctx: api.CallContext): Promise<api.MembersResponse> {
    return this.inner.addMember(req, ctx);
  }
  promoteMember(req: api.PromoteMemberRequest, ctx: api.CallContext): Promise<api.MembersResponse> {
    return this.inner.promoteMember(req, ctx);
  }
  removeMember(req: api.RemoveMemberRequest, ctx: api.CallContext): Promise<api.MembersResponse> {
    return this.inner.removeMember(req, ctx);
  }
  transferLeadership(
    req: api.TransferLeadershipRequest,
    ctx: api.CallContext,
  ): Promise<api.TransferLeadershipResponse> {
    return this.inner.transferLeadership(req, ctx);
  }
  snapshot(req: api.SnapshotRequest, ctx: api.CallContext): AsyncIterable<api.SnapshotChunk> {
    return this.inner.snapshot(req, ctx);
  }
  isServing(): boolean {
    return this.inner.isServing();
  }
}
