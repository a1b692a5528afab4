import { randomBytes } from 'node:crypto';
import type { RaftNode } from '../../../../libs/raft/src/index.js';
import type { CallContext } from './api.js';
import type { ApplyResult, Command, MutexKind } from './commands.js';
import { exhausted, leaseNotFound, unavailable } from './errors.js';
import type { SmEvent } from './events.js';
import { Lessor } from './lessor.js';
import type { LockNodeOptions } from './options.js';
import { mutexKey } from './model.js';
import type { LockStateMachine } from './state-machine.js';
import { type WaitOutcome, Waits } from './waits.js';

export interface MutexRequest {
  name: string;
  owner: string;
  value: string;
  ttl: number;
  waitMs: number;
  requestId: string;
  leaseId: string;
}

/**
 * What only the leader does: decide lease expiry and checkpoints on its clock, keep waiting
 * calls, and turn requests into commands. It starts once the leader's own no-op is applied
 * (so it knows every lease) and stops the moment the node stops leading.
 */
export class Leadership {
  readonly lessor: Lessor;
  private readonly waits: Waits;
  private term = 0;
  private readonly renewing = new Set<string>();
  private renewBatch:
    | { batch: Map<string, ((found: boolean) => void)[]>; failed: ((e: Error) => void)[] }
    | undefined;

  constructor(
    private readonly sm: LockStateMachine,
    private readonly raft: () => RaftNode<ApplyResult>,
    private readonly opts: LockNodeOptions,
    private readonly propose: (c: Command) => Promise<ApplyResult>,
    /** Confirms this node still leads (ReadIndex), after the call that needs it began. */
    private readonly barrier: () => Promise<void>,
  ) {
    this.lessor = new Lessor(sm);
    this.waits = new Waits(opts.limits.maxWaitersPerLock * 16);
  }

  get active(): boolean {
    return this.term > 0 && this.raft().isLeader();
  }

  onEvent(e: SmEvent): void {
    this.waits.onEvent(e);
    const raft = this.raft() as RaftNode<ApplyResult> | undefined; // unset while replaying at start-up
    if (e.type !== 'leader_term' || !raft?.isLeader() || raft.status().term !== e.term) return;
    this.term = e.term;
    this.lessor.startLeading();
    this.opts.logger.info({ term: e.term }, 'leading: lease clock started');
    // Followers learn where to forward calls from this entry.
    const member: Command = {
      op: 'member',
      id: this.opts.id,
      client_address: this.opts.clientAddress,
      t: Date.now(),
    };
    this.propose(member).catch(() => {});
  }

  stepDown(): void {
    if (this.term === 0) return;
    this.term = 0;
    this.lessor.stopLeading();
    this.waits.failAll(unavailable('leadership changed while waiting'));
  }

  expireLeases(): void {
    if (!this.active) return;
    // A caller waiting in a queue here is alive: keep its lease, through the log if need be.
    const keep = this.waits.leases();
    for (const id of this.lessor.dueForRenewal(keep)) {
      if (this.renewing.has(id)) continue;
      this.renewing.add(id);
      this.renew(id)
        .catch(() => {})
        .finally(() => this.renewing.delete(id));
    }
    for (const [id, seq] of this.lessor.takeExpired((l) => keep.has(l))) {
      this.propose({ op: 'expire', lease_id: id, seq, t: Date.now() }).then(
        (r) => r.status !== 'ok' && this.lessor.expireSettled(id),
        () => this.lessor.expireSettled(id),
      );
    }
  }

  checkpointLeases(): void {
    if (!this.active) return;
    const leases = this.lessor.takeCheckpoint(this.opts.checkpointIntervalMs / 2);
    if (leases.length === 0) return;
    this.propose({ op: 'checkpoint', leases, t: Date.now() }).catch(() =>
      this.lessor.checkpointFailed(leases.map((l) => l[0])),
    );
  }

  /** Renews a lease the caller just confirmed leadership for; throws NOT_FOUND if gone. */
  async renew(leaseId: string): Promise<number> {
    // The caller's barrier can complete after this node stepped down, and stepping down clears
    // the lease clock: every lease would then look expired, and NOT_FOUND would tell the holder
    // of a live lease that it lost it. Only a leading node may answer.
    if (!this.active) throw unavailable('leadership changed; the outcome is unknown');
    const lease = this.sm.leases.get(leaseId);
    if (!lease || this.lessor.isExpired(leaseId)) throw leaseNotFound();
    if (!this.lessor.renewInMemory(leaseId)) {
      if (!(await this.renewThroughLog(leaseId))) throw leaseNotFound();
    }
    return lease.ttl_ms;
  }

  /**
   * Renewals that must be persisted share one log entry per turn of the event loop, so that
   * thousands of leases renewing at once cost a few proposals, not thousands. Resolves false
   * if the lease was gone when the entry applied.
   */
  private renewThroughLog(leaseId: string): Promise<boolean> {
    if (!this.renewBatch) {
      const batch = new Map<string, ((found: boolean) => void)[]>();
      const failed: ((e: Error) => void)[] = [];
      this.renewBatch = { batch, failed };
      setImmediate(() => {
        this.renewBatch = undefined;
        this.propose({ op: 'renew', lease_ids: [...batch.keys()], t: Date.now() }).then(
          (r) => {
            const missing = new Set(r.status === 'ok' ? r.missing : batch.keys());
            for (const [id, done] of batch) for (const d of done) d(!missing.has(id));
          },
          (e: Error) => failed.forEach((f) => f(e)),
        );
      });
    }
    const { batch, failed } = this.renewBatch;
    return new Promise((resolve, reject) => {
      const list = batch.get(leaseId) ?? [];
      list.push(resolve);
      batch.set(leaseId, list);
      failed.push(reject);
    });
  }

  /** Acquire and Campaign: try, or queue and wait for the state machine's answer. */
  async acquire(kind: MutexKind, f: MutexRequest, ctx: CallContext): Promise<WaitOutcome> {
    const newLeaseId = randomBytes(8).toString('hex');
    let fresh = false;
    const o = await this.decide(kind, f, ctx, newLeaseId, () => (fresh = true));
    // A lease created and granted by this very command lives a TTL from its application. Any
    // other grant on a lease we made (after a wait, or a retry answered from the retry table)
    // may have used up part of its TTL: renew it, under confirmed leadership, before answering,
    // so that the caller can count a full TTL from its own request.
    if (o.granted && !f.leaseId && !fresh) {
      await this.barrier();
      await this.renew(o.lease_id);
    }
    return o;
  }

  private async decide(
    kind: MutexKind,
    f: MutexRequest,
    ctx: CallContext,
    newLeaseId: string,
    grantedNow: () => void,
  ): Promise<WaitOutcome> {
    if (f.leaseId && (!this.sm.leases.has(f.leaseId) || this.lessor.isExpired(f.leaseId)))
      throw leaseNotFound();
    // A client's request id is scoped to the lock or election it names: the retry table is
    // shared by every lock and election, and without the scope an Acquire of another lock or a
    // Campaign reusing the id was answered with the first request's grant (say elected = true
    // with a lock's lease and token, while nobody was elected). Names hold no control
    // characters, so the NUL separator keeps scoped ids distinct.
    // A wait must be resumable after a leader change, so it always has a request id.
    const requestId = f.requestId
      ? `${mutexKey(kind, f.name)}\u0000${f.requestId}`
      : f.waitMs > 0
        ? `srv-${randomBytes(8).toString('hex')}`
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
      t: Date.now(),
      max_leases: this.opts.limits.maxLeases,
      max_waiters: this.opts.limits.maxWaitersPerLock,
    });
    switch (r.status) {
      case 'granted':
        if (r.lease_id === newLeaseId) grantedNow();
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
      case 'exhausted':
        throw exhausted(r.what);
      case 'queued': {
        let waitId = requestId;
        if (!this.sm.waitingOn(requestId) && !this.sm.recorded(requestId)) {
          // Neither queued under this request nor answered: the lease was already queued here
          // by another request. A try answers like one (it ended NOT_FOUND, "lease expired or
          // released", for a live lease); a wait resumes that entry, as a retry would.
          const m = this.sm.mutex(kind, f.name);
          const entry = m?.queue.find((w) => w.lease_id === r.lease_id);
          if (!entry || f.waitMs === 0) return this.answerFromState(kind, f, r.lease_id, r.ttl_ms);
          waitId = entry.request_id;
        }
        // Entries applied after ours (in the same batch, before this continuation ran) may
        // already have granted, cancelled or dropped the wait: then its event has passed.
        if (!this.sm.waitingOn(waitId)) return this.settled(waitId, f.owner);
        const until = Math.min(performance.now() + f.waitMs, ctx.deadline ?? Infinity);
        const cancel = () =>
          this.propose({
            op: 'cancel_wait',
            kind,
            name: f.name,
            request_id: waitId,
            t: Date.now(),
          }).then(
            () => this.waits.settleFromState(waitId, () => this.settled(waitId, f.owner)),
            (e: Error) => this.waits.fail(waitId, e),
          );
        const o = await this.waits.wait(waitId, r.lease_id, until, cancel, ctx.signal);
        return { ...o, holder: o.granted ? f.owner : o.holder };
      }
      default:
        throw unavailable(`unexpected result ${r.status}`);
    }
  }

  /** A try by a lease, answered from the state it finds: held by it, by another, or gone. */
  private answerFromState(
    kind: MutexKind,
    f: MutexRequest,
    leaseId: string,
    ttlMs: number,
  ): WaitOutcome {
    if (!this.sm.leases.has(leaseId)) throw leaseNotFound();
    const h = this.sm.mutex(kind, f.name)?.holder;
    if (h?.lease_id === leaseId)
      return { granted: true, lease_id: leaseId, token: h.token, ttl_ms: ttlMs, holder: f.owner };
    return { granted: false, lease_id: '', token: 0, ttl_ms: 0, holder: h?.owner ?? '' };
  }

  /** The outcome of a wait that is over, from the retry table. */
  private settled(requestId: string, owner: string): WaitOutcome {
    const r = this.sm.recorded(requestId);
    if (r?.status === 'granted')
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
