// Renews every lease of a client over one shared KeepAlive stream, and decides when a lease
// must be given up because its renewal could not be confirmed in time.
import { type ClientDuplexStream, status } from '@grpc/grpc-js';
import { isServiceError } from './errors.js';
import type { RenewRequest, RenewResponse } from './gen/quorumlock/v1/lock.js';
import type { ClusterConnection } from './connection.js';

/** A lease the manager keeps alive. The manager owns its timers from add() until it stops. */
export interface KeptLease {
  readonly leaseId: string;
  readonly ttlMs: number;
  /**
   * Monotonic time before which the server cannot have expired the lease: the SEND time of the
   * latest confirmed renewal (or of the grant) plus the TTL. The server starts its clock only
   * when it handles the request, which is after we sent it, so this errs early, never late.
   */
  validUntil: number;
  renewed(sentAt: number, ttlMs: number): void;
  /** code: NOT_FOUND when the server said so, DEADLINE_EXCEEDED when confirmation came too late. */
  lost(code: status, message: string): void;
}

interface Entry {
  readonly lease: KeptLease;
  lastSend: number;
  renewTimer?: NodeJS.Timeout;
  lostTimer?: NodeJS.Timeout;
}

/**
 * Stop claiming a lease before validUntil: timers fire late on a busy event loop, and the
 * client's and the servers' clocks may run at rates up to 1 % off real time each. A fifth of
 * the TTL (at most a second) still leaves renewals sent at 0, 1/3 and 2/3 of it the chance to
 * be confirmed; never less than 2 % of the TTL, which covers both clocks' rate error.
 */
export function safetyMarginMs(ttlMs: number): number {
  return Math.max(ttlMs * 0.02, Math.min(1000, Math.max(20, ttlMs * 0.2)));
}

/** Errors about one request (the head of the queue), after which the stream is still usable. */
const PER_LEASE = new Set<number>([
  status.NOT_FOUND,
  status.INVALID_ARGUMENT,
  status.FAILED_PRECONDITION,
]);

export class KeepAliveManager {
  private readonly entries = new Map<string, Entry>();
  private stream?: { call: ClientDuplexStream<RenewRequest, RenewResponse>; address: string };
  /** Renewals sent on the current stream and not answered yet, in send order. */
  private outstanding: { leaseId: string; sentAt: number }[] = [];
  private reopenTimer?: NodeJS.Timeout;
  /** Leases that came due while the stream was being reopened. */
  private readonly deferred = new Set<string>();
  private failures = 0;

  constructor(private readonly connection: ClusterConnection) {}

  /** Keeps `lease` alive from now on; the returned function stops (no lost event). */
  add(lease: KeptLease, lastSend: number): () => void {
    const e: Entry = { lease, lastSend };
    this.entries.set(lease.leaseId, e);
    this.scheduleLost(e);
    this.scheduleRenew(e);
    return () => this.remove(lease.leaseId);
  }

  stopAll(): void {
    for (const id of [...this.entries.keys()]) this.remove(id);
  }

  private remove(leaseId: string): Entry | undefined {
    const e = this.entries.get(leaseId);
    if (!e) return undefined;
    clearTimeout(e.renewTimer);
    clearTimeout(e.lostTimer);
    this.entries.delete(leaseId);
    if (this.entries.size === 0) this.closeStream();
    return e;
  }

  private lose(leaseId: string, code: status, message: string): void {
    const e = this.remove(leaseId);
    e?.lease.lost(code, message);
  }

  private scheduleRenew(e: Entry): void {
    clearTimeout(e.renewTimer);
    const due = e.lastSend + e.lease.ttlMs / 3;
    e.renewTimer = setTimeout(() => this.send(e), Math.max(0, due - performance.now()));
  }

  private scheduleLost(e: Entry): void {
    clearTimeout(e.lostTimer);
    const at = e.lease.validUntil - safetyMarginMs(e.lease.ttlMs);
    e.lostTimer = setTimeout(
      () =>
        this.lose(
          e.lease.leaseId,
          status.DEADLINE_EXCEEDED,
          `lease ${e.lease.leaseId}: renewal not confirmed before the lease could expire`,
        ),
      Math.max(0, at - performance.now()),
    );
  }

  private send(e: Entry): void {
    if (this.entries.get(e.lease.leaseId) !== e) return;
    if (this.reopenTimer) {
      this.deferred.add(e.lease.leaseId); // the reopen sends it
      return;
    }
    const now = performance.now();
    // A renewal unanswered for a third of its TTL: the node is hung; move to another one.
    const head = this.outstanding[0];
    const headTtl = head && this.entries.get(head.leaseId)?.lease.ttlMs;
    const dropped =
      head && headTtl !== undefined && now - head.sentAt > headTtl / 3 ? this.failStream() : [];
    e.lastSend = now;
    this.scheduleRenew(e);
    const stream = this.openStream();
    this.outstanding.push({ leaseId: e.lease.leaseId, sentAt: now });
    stream.call.write({ lease_id: e.lease.leaseId });
    for (const id of new Set(dropped)) {
      const other = this.entries.get(id);
      if (other && other !== e) this.send(other);
    }
  }

  private openStream(): NonNullable<KeepAliveManager['stream']> {
    if (this.stream) return this.stream;
    const s = this.connection.duplex('LockService', 'KeepAlive');
    this.stream = s;
    s.call.on('data', (res: RenewResponse) => this.onData(res));
    s.call.on('error', (err: Error) => this.onStreamEnd(s.call, err));
    s.call.on('end', () => this.onStreamEnd(s.call, undefined));
    return s;
  }

  private onData(res: RenewResponse): void {
    const i = this.outstanding.findIndex((o) => o.leaseId === res.lease_id);
    const sentAt = this.outstanding[i]?.sentAt;
    if (sentAt === undefined) return;
    this.outstanding.splice(i, 1);
    this.failures = 0;
    const e = this.entries.get(res.lease_id);
    if (!e) return;
    const until = sentAt + res.ttl_ms;
    if (until > e.lease.validUntil) {
      e.lease.validUntil = until;
      this.scheduleLost(e);
    }
    e.lease.renewed(sentAt, res.ttl_ms);
  }

  private onStreamEnd(call: ClientDuplexStream<RenewRequest, RenewResponse>, err?: Error): void {
    if (this.stream?.call !== call) return; // an old stream we already gave up on
    const address = this.stream.address;
    this.stream = undefined;
    const pending = this.outstanding;
    this.outstanding = [];
    if (this.connection.closedSignal.aborted) return;
    if (err && isServiceError(err) && PER_LEASE.has(err.code) && pending.length > 0) {
      // Renewals are answered in order, so the failed one is the oldest unanswered.
      const head = pending.shift()!;
      this.lose(head.leaseId, err.code, `lease ${head.leaseId}: ${err.details || err.message}`);
      this.resend(pending);
      return;
    }
    this.connection.markFailed(address);
    this.failures++;
    const ceiling = Math.min(1000, 50 * 2 ** Math.min(this.failures, 5));
    clearTimeout(this.reopenTimer);
    this.reopenTimer = setTimeout(
      () => {
        this.reopenTimer = undefined;
        this.resend(pending);
      },
      ceiling / 2 + Math.random() * (ceiling / 2),
    );
  }

  /** After a stream failure: renew everything that was unanswered, or is due, on a new one. */
  private resend(pending: { leaseId: string }[]): void {
    const ids = new Set([...pending.map((p) => p.leaseId), ...this.deferred]);
    this.deferred.clear();
    const now = performance.now();
    for (const e of [...this.entries.values()]) {
      if (ids.has(e.lease.leaseId) || now >= e.lastSend + e.lease.ttlMs / 3) this.send(e);
    }
  }

  /** Abandons the current stream (the next send opens one elsewhere); returns its unanswered. */
  private failStream(): string[] {
    const s = this.stream;
    const dropped = this.outstanding.map((o) => o.leaseId);
    this.stream = undefined;
    this.outstanding = [];
    if (s) {
      this.connection.markFailed(s.address);
      s.call.cancel();
    }
    return dropped;
  }

  private closeStream(): void {
    clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    this.deferred.clear();
    const s = this.stream;
    this.stream = undefined;
    this.outstanding = [];
    s?.call.cancel();
  }
}
