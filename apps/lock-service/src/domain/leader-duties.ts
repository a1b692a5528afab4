import type { Logger } from 'pino';
import type { CallContext } from './api.js';
import {
  type ApplyResult,
  type Caller,
  type Command,
  LEADER_ITSELF,
  type MutexKind,
  type UnstampedCommand,
} from './commands.js';
import {
  Code,
  DomainError,
  exhausted,
  leaseNotFound,
  notLeaseOwner,
  unavailable,
} from './errors.js';
import type { EventBus } from './event-bus.js';
import type { SmEvent } from './events.js';
import { LeaseClock } from './lease-clock.js';
import { holdOf, normalLimit } from './lock-kinds.js';
import type { Limits } from './options.js';
import { requestScope } from './model.js';
import type { IdSource, Runtime } from './runtime.js';
import { wholeMs } from './state-machine.js';
import type { LockStateView } from './state-view.js';
import { type WaitOutcome, Waits } from './waits.js';

/** What the leader's duties need to know of Raft. */
export interface RaftRole {
  isLeader(): boolean;
  /** The node's current term. */
  term(): number;
}

export interface LeaderDutiesOptions {
  readonly id: string;
  readonly clientAddress: string;
  readonly checkpointIntervalMs: number;
  readonly limits: Limits;
  readonly logger: Logger;
  readonly isAdmin?: (principal: string) => boolean;
}

export interface MutexRequest {
  name: string;
  owner: string;
  value: string;
  ttl: number;
  waitMs: number;
  requestId: string;
  leaseId: string;
  /** A lock's hold kind (absent: an EXCLUSIVE mutex without a lock-delay). */
  hold?: { shared: boolean; limit: number; delayMs: number };
}

/**
 * What only the leader does: stamp commands with the lease clock, carry the clock forward with
 * ticks (which expire due leases), keep alive the leases that waiting calls created, keep those
 * calls, and turn requests into commands. It starts once the leader's own no-op is applied (so
 * it knows every lease) and stops the moment the node stops leading.
 */
export class LeaderDuties {
  readonly clock: LeaseClock;
  private readonly waits: Waits;
  private term = 0;
  /** Lease-clock time of the latest command this leader proposed. */
  private lastStamp = 0;
  private tickInFlight = false;
  private readonly renewing = new Set<string>();
  private renewBatch: { batch: Map<string, Renewal>; failed: ((e: Error) => void)[] } | undefined;

  constructor(
    private readonly sm: LockStateView,
    private readonly raft: RaftRole,
    private readonly opts: LeaderDutiesOptions,
    private readonly proposeStamped: (c: Command) => Promise<ApplyResult>,
    private readonly runtime: Runtime,
    private readonly ids: IdSource,
  ) {
    this.clock = new LeaseClock(() => runtime.now());
    this.waits = new Waits(opts.limits.maxWaitersPerLock * 16, runtime);
  }

  /** Takes this object's three stages of the event bus. */
  subscribe(bus: EventBus): void {
    bus.on('leaseClock', (e) => this.clock.onEvent(e, () => this.sm.clock));
    bus.on('waits', (e) => this.waits.onEvent(e));
    bus.on('leadership', (e) => this.onLeaderTerm(e));
  }

  get active(): boolean {
    return this.term > 0 && this.raft.isLeader();
  }

  private onLeaderTerm(e: SmEvent): void {
    // At start-up the log replays before Raft runs: isLeader() is false then.
    if (e.type !== 'leader_term' || !this.raft.isLeader() || this.raft.term() !== e.term) return;
    this.term = e.term;
    this.clock.startLeading(e.term);
    this.lastStamp = this.clock.now();
    this.opts.logger.info(
      { term: e.term, clock: this.lastStamp },
      'leading: lease clock continued',
    );
    // Followers learn where to forward calls from this entry.
    this.propose({ op: 'member', id: this.opts.id, client_address: this.opts.clientAddress }).catch(
      (err: Error) => this.opts.logger.warn({ err: err.message }, 'could not announce leadership'),
    );
  }

  stepDown(): void {
    if (this.term === 0) return;
    this.term = 0;
    this.clock.stopLeading();
    this.tickInFlight = false;
    this.waits.failAll(unavailable('leadership changed while waiting'));
  }

  /**
   * Who the call is, for the commands it proposes: its identity (set by the node that
   * authorized it, also when it was forwarded here), and whether this node's auth config makes
   * that identity an admin.
   */
  caller(ctx: CallContext): Caller {
    const principal = ctx.principal ?? '';
    return { principal, admin: principal !== '' && (this.opts.isAdmin?.(principal) ?? false) };
  }

  /** Proposes a command stamped with the lease clock. */
  propose(c: UnstampedCommand): Promise<ApplyResult> {
    const t = this.clock.now();
    if (t > this.lastStamp) this.lastStamp = t;
    return this.proposeStamped({ ...c, t });
  }

  /** What the lease has left on the lease clock now (0 if it is gone). */
  remainingMs(leaseId: string): number {
    const lease = this.sm.live(leaseId);
    return lease ? wholeMs(lease.expires_at - this.clock.now()) : 0;
  }

  /**
   * Called every few ms. Expires due leases by proposing a tick stamped past their expiry;
   * writes a tick while leases exist at least every checkpoint interval, so that a successor
   * continues the clock from a recent stamp; renews leases made by calls still waiting here.
   */
  onTimer(): void {
    if (!this.active) return;
    const now = this.clock.now();
    for (const id of this.waits.ownLeases()) {
      const lease = this.sm.live(id);
      if (!lease || now < lease.expires_at - lease.ttl_ms / 2 || this.renewing.has(id)) continue;
      this.renewing.add(id);
      this.renewThroughLog(id, LEADER_ITSELF)
        .catch((e: Error) => this.opts.logger.debug({ err: e.message }, 'waiter renewal failed'))
        .finally(() => this.renewing.delete(id));
    }
    if (this.tickInFlight) return;
    // Nothing to expire or end (no lease, no lock-delay): the clock need not be written.
    const due = this.sm.nextExpiry();
    if (due === undefined) return;
    if (due <= now || now - this.lastStamp >= this.opts.checkpointIntervalMs) {
      this.tickInFlight = true;
      this.propose({ op: 'tick' })
        .catch((e: Error) => this.opts.logger.debug({ err: e.message }, 'lease clock tick failed'))
        .finally(() => (this.tickInFlight = false));
    }
  }

  /**
   * Renews a lease through the log; throws NOT_FOUND if it was gone when the entry applied,
   * PERMISSION_DENIED if it belongs to another identity than the caller's.
   */
  async renew(leaseId: string, ctx: CallContext): Promise<number> {
    if (!this.active) throw unavailable('not the leader');
    const outcome = await this.renewThroughLog(leaseId, this.caller(ctx));
    if (outcome === 'missing') throw leaseNotFound();
    if (outcome === 'denied') throw notLeaseOwner('lock', leaseId);
    return this.sm.live(leaseId)?.ttl_ms ?? 0;
  }

  /**
   * Renewals share one log entry per turn of the event loop, so that thousands of leases
   * renewing at once cost a few proposals, not thousands. Resolves 'missing' if the lease was
   * gone (or past its expiry) when the entry applied, 'denied' if it was not the caller's.
   */
  private renewThroughLog(leaseId: string, by: Caller): Promise<RenewOutcome> {
    if (!this.renewBatch) {
      const batch = new Map<string, Renewal>();
      const failed: ((e: Error) => void)[] = [];
      this.renewBatch = { batch, failed };
      this.runtime.soon(() => {
        this.renewBatch = undefined;
        const renewals = [...batch.values()];
        const cmd = {
          op: 'renew' as const,
          lease_ids: renewals.map((x) => x.leaseId),
          by: renewals.map((x) => x.by),
        };
        this.propose(cmd).then(
          (r) => {
            const ok = r.status === 'ok';
            const missing = new Set(ok ? r.missing : cmd.lease_ids);
            const denied = new Set(ok ? r.denied : []);
            renewals.forEach((x, i) => {
              const outcome = missing.has(x.leaseId) ? 'missing' : denied.has(i) ? 'denied' : 'ok';
              for (const d of x.done) d(outcome);
            });
          },
          (e: Error) => failed.forEach((f) => f(e)),
        );
      });
    }
    const { batch, failed } = this.renewBatch;
    // One renewal per lease and caller: a lease asked for by another identity too is judged
    // for each on its own.
    const key = `${leaseId}\u0000${by.admin ? 1 : 0}${by.principal}`;
    return new Promise((resolve, reject) => {
      const r = batch.get(key) ?? { leaseId, by, done: [] };
      r.done.push(resolve);
      batch.set(key, r);
      failed.push(reject);
    });
  }

  /** Acquire and Campaign: try, or queue and wait for the state machine's answer. */
  async acquire(kind: MutexKind, f: MutexRequest, ctx: CallContext): Promise<WaitOutcome> {
    if (!this.active) throw unavailable('not the leader');
    // A wait takes its slot before anything is proposed: refusing it after its entry was
    // applied would leave a queue entry (and a lease) that nobody waits for.
    const slot = f.waitMs > 0 ? this.waits.reserve() : undefined;
    try {
      return await this.decide(kind, f, ctx, slot);
    } finally {
      slot?.release();
    }
  }

  private async decide(
    kind: MutexKind,
    f: MutexRequest,
    ctx: CallContext,
    slot: ReturnType<Waits['reserve']> | undefined,
  ): Promise<WaitOutcome> {
    const newLeaseId = this.ids.next();
    const by = this.caller(ctx);
    // A client's request id is scoped to the lock or election it names, and to the caller's
    // identity: the retry table is shared by every lock, election and identity, and an Acquire
    // of another lock, a Campaign, or another identity reusing the id must not be answered
    // with this one's grant. Names and identities hold no control characters, so the NUL
    // separators keep scoped ids distinct. A wait must be resumable after a leader change, so
    // it always has a request id.
    const scope = requestScope(kind, f.name) + (by.principal ? `\u0000${by.principal}` : '');
    const requestId = f.requestId
      ? `${scope}\u0000${f.requestId}`
      : f.waitMs > 0
        ? `srv-${this.ids.next()}`
        : '';
    const r = await this.propose({
      op: 'acquire',
      kind,
      name: f.name,
      owner: f.owner,
      value: f.value,
      ttl_ms: f.ttl,
      wait: f.waitMs > 0,
      request_id: requestId,
      lease_id: f.leaseId,
      new_lease_id: newLeaseId,
      max_leases: this.opts.limits.maxLeases,
      max_waiters: this.opts.limits.maxWaitersPerLock,
      max_per_lease: this.opts.limits.maxLocksPerLease,
      max_elections: this.opts.limits.maxElections,
      by,
      ...(f.hold?.shared ? { shared: true as const } : {}),
      ...(f.hold && f.hold.limit > 1 ? { limit: f.hold.limit } : {}),
      ...(f.hold?.delayMs ? { delay_ms: f.hold.delayMs } : {}),
    });
    switch (r.status) {
      case 'granted':
        return {
          granted: true,
          lease_id: r.lease_id,
          token: r.token,
          ttl_ms: r.ttl_ms,
          holder: f.owner,
        };
      case 'held':
        return { granted: false, lease_id: '', token: 0, ttl_ms: 0, holder: r.holder };
      case 'lease_not_found':
        throw leaseNotFound();
      case 'not_owner':
        throw notLeaseOwner(kind === 'lock' ? 'lock' : 'elect', f.leaseId);
      case 'exhausted':
        throw exhausted(r.what);
      case 'limit_mismatch':
        throw new DomainError(
          Code.FAILED_PRECONDITION,
          `limit: lock ${f.name} has limit ${r.limit} while it has holders or waiters; ` +
            `this request asked for limit ${normalLimit(f.hold?.limit)}`,
        );
      case 'queued': {
        let waitId = requestId;
        if (!this.sm.waitingOn(requestId) && !this.sm.recorded(requestId)) {
          // Neither queued under this request nor answered: the lease was already queued here
          // by another request. A try answers like one; a wait resumes that entry, as a retry
          // would.
          const m = this.sm.mutex(kind, f.name);
          const entry = m?.queue.find((w) => w.lease_id === r.lease_id);
          if (!entry || f.waitMs === 0) return this.answerFromState(kind, f, r.lease_id);
          waitId = entry.request_id;
        }
        // Entries applied after ours (in the same batch, before this continuation ran) may
        // already have granted, cancelled or dropped the wait: then its event has passed.
        if (!this.sm.waitingOn(waitId)) return this.settled(waitId, f.owner);
        const until = Math.min(this.runtime.now() + f.waitMs, ctx.deadline ?? Infinity);
        const cancel = (): void =>
          void this.propose({ op: 'cancel_wait', kind, name: f.name, request_id: waitId }).then(
            () => this.waits.settleFromState(waitId, () => this.settled(waitId, f.owner)),
            (e: Error) => this.waits.fail(waitId, e),
          );
        // Only a lease this wait created is kept alive while it waits: its caller cannot know
        // the id to renew it. A caller's own lease is its caller's to renew.
        const own = this.sm.live(r.lease_id)?.created_for === waitId;
        const o = await this.waits.wait(
          { requestId: waitId, leaseId: r.lease_id, ownLease: own, untilMs: until, slot },
          cancel,
          ctx.signal,
        );
        // Granted after its caller went away: the lease this wait made is left to its TTL, not
        // released here. The caller's retry (same request id) may be on its way, to this node or
        // another, and is answered the grant from the retry table: a release proposed now could
        // apply after that answer and end a hold its holder was just told it has.
        return { ...o, holder: o.granted ? f.owner : o.holder };
      }
      default:
        throw unavailable(`unexpected result ${r.status}`);
    }
  }

  /** A try by a lease, answered from the state it finds: held by it, by another, or gone. */
  private answerFromState(kind: MutexKind, f: MutexRequest, leaseId: string): WaitOutcome {
    if (!this.sm.live(leaseId)) throw leaseNotFound();
    const m = this.sm.mutex(kind, f.name);
    const h = m && holdOf(m, leaseId);
    if (h)
      return {
        granted: true,
        lease_id: leaseId,
        token: h.token,
        ttl_ms: this.remainingMs(leaseId),
        holder: f.owner,
      };
    return { granted: false, lease_id: '', token: 0, ttl_ms: 0, holder: m?.holder?.owner ?? '' };
  }

  /**
   * The outcome of a wait that is over, from the retry table. Only the call whose own entry
   * came before the grant asks, so the TTL the grant recorded (from its stamp) holds for it.
   */
  private settled(requestId: string, owner: string): WaitOutcome {
    const r = this.sm.recorded(requestId);
    if (r?.status === 'granted' && this.sm.live(r.lease_id))
      return {
        granted: true,
        lease_id: r.lease_id,
        token: r.token,
        ttl_ms: r.ttl_ms,
        holder: owner,
      };
    if (r?.status === 'held')
      return { granted: false, lease_id: '', token: 0, ttl_ms: 0, holder: r.holder };
    throw leaseNotFound();
  }
}

type RenewOutcome = 'ok' | 'missing' | 'denied';

/** One lease's renewal for one caller in a batch, and the calls waiting on it. */
interface Renewal {
  readonly leaseId: string;
  readonly by: Caller;
  readonly done: ((outcome: RenewOutcome) => void)[];
}
