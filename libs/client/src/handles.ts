// Lock and Leadership handles: a granted lease, kept alive until released, resigned or lost.
import { EventEmitter } from 'node:events';
import { status } from '@grpc/grpc-js';
import { LockLostError, QuorumLockError } from './errors.js';
import { type KeptLease, safetyMarginMs } from './keepalive.js';
import { ignoreRejection } from '../../common/src/ignore.js';

/** A lease that is not released expires after its TTL: releasing only frees it sooner. */
const RELEASE_IS_BEST_EFFORT = 'an unreleased lease expires after its TTL';

/** What a handle needs from its client. */
export interface HandleOps {
  /** Releases the whole lease (and so everything it holds); true if the server dropped it. */
  releaseLease(leaseId: string): Promise<boolean>;
  proclaim(election: string, leaseId: string, value: string): Promise<void>;
  resign(election: string, leaseId: string): Promise<boolean>;
  /** The handle is done: the client stops tracking it. */
  forget(handle: LeaseHandle): void;
}

export interface Grant {
  readonly name: string;
  readonly leaseId: string;
  readonly fencingToken: bigint;
  readonly ttlMs: number;
  readonly owner: string;
  /** Monotonic time before which the server cannot have expired the lease. */
  readonly validUntil: number;
}

export interface RenewedEvent {
  /** performance.now() when the confirmed renewal was sent. */
  readonly sentAt: number;
  readonly ttlMs: number;
  /** performance.now() before which the lease cannot expire at the server. */
  readonly validUntil: number;
}

interface HandleEvents {
  /** The lease is gone, or may be: stop acting on the lock. */
  lost: [fencingToken: bigint, error: LockLostError];
  renewed: [event: RenewedEvent];
}

export abstract class LeaseHandle extends EventEmitter<HandleEvents> implements KeptLease {
  readonly name: string;
  readonly leaseId: string;
  readonly fencingToken: bigint;
  readonly ttlMs: number;
  readonly owner: string;
  validUntil: number;
  private readonly controller = new AbortController();
  private stopRenewing?: () => void;
  private expiryTimer?: NodeJS.Timeout;

  constructor(
    grant: Grant,
    protected readonly ops: HandleOps,
  ) {
    super();
    this.name = grant.name;
    this.leaseId = grant.leaseId;
    this.fencingToken = grant.fencingToken;
    this.ttlMs = grant.ttlMs;
    this.owner = grant.owner;
    this.validUntil = grant.validUntil;
  }

  /** Aborted once the lock is no longer held: lost (reason: LockLostError) or given up. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Held and, by the client's clock, certainly not expired at the server. */
  get held(): boolean {
    return (
      !this.controller.signal.aborted &&
      performance.now() < this.validUntil - safetyMarginMs(this.ttlMs)
    );
  }

  /** @internal The client's keep-alive took this lease; `stop` ends renewing it. */
  keepAlive(stop: () => void): void {
    this.stopRenewing = stop;
  }

  /** @internal Without keep-alive the handle still stops claiming the lock at expiry. */
  expireUnrenewed(): void {
    const at = this.validUntil - safetyMarginMs(this.ttlMs) - performance.now();
    this.expiryTimer = setTimeout(
      () => this.lost(status.DEADLINE_EXCEEDED, `lease ${this.leaseId} was not renewed`),
      Math.max(0, at),
    );
    this.expiryTimer.unref();
  }

  /** @internal */
  renewed(sentAt: number, ttlMs: number): void {
    this.emit('renewed', { sentAt, ttlMs, validUntil: this.validUntil });
  }

  /** @internal The keep-alive gave up on the lease, or the server said it is gone. */
  lost(code: status, message: string): void {
    if (this.controller.signal.aborted) return;
    const err = new LockLostError(this.name, this.fencingToken, this.leaseId, code, message);
    this.finish(err);
    // Renewals went unanswered but the lease may live on: free it early if the cluster can.
    if (code !== status.NOT_FOUND)
      void ignoreRejection(this.ops.releaseLease(this.leaseId), RELEASE_IS_BEST_EFFORT);
    this.emit('lost', this.fencingToken, err);
  }

  /** Stops renewing and claiming; true if this call did it (the handle was still live). */
  protected finish(reason: unknown): boolean {
    if (this.controller.signal.aborted) return false;
    this.stopRenewing?.();
    clearTimeout(this.expiryTimer);
    this.controller.abort(reason);
    this.ops.forget(this);
    return true;
  }

  /** @internal Client shutdown: stop claiming, and give the lease up unless told to keep it. */
  async relinquish(release: boolean): Promise<void> {
    if (!this.finish(new QuorumLockError(status.CANCELLED, 'the client was closed'))) return;
    if (release) await ignoreRejection(this.ops.releaseLease(this.leaseId), RELEASE_IS_BEST_EFFORT);
  }
}

/**
 * Releasing and resigning are a handle's normal end, not failures: one shared, frozen reason
 * each, so that giving a lock up does not build an Error and its stack every time (3% of the
 * benchmark client's CPU went there).
 */
const RELEASED = Object.freeze(new QuorumLockError(status.CANCELLED, 'the lock was released'));
const RESIGNED = Object.freeze(new QuorumLockError(status.CANCELLED, 'resigned'));

/** A held lock. Its lease holds only this lock, so releasing the lock ends the lease. */
export class Lock extends LeaseHandle {
  /**
   * Gives the lock up. True if the server released it; false if it had already expired (the
   * handle was lost). Rejects only when the cluster could not be reached; the handle stops
   * claiming the lock either way.
   */
  async release(): Promise<boolean> {
    const live = this.finish(RELEASED);
    if (!live) return false;
    return this.ops.releaseLease(this.leaseId);
  }
}

/** Leadership of an election, won by campaign(). */
export class Leadership extends LeaseHandle {
  private current: string;

  constructor(grant: Grant, ops: HandleOps, value: string) {
    super(grant, ops);
    this.current = value;
  }

  get election(): string {
    return this.name;
  }

  /** The value announced to observers. */
  get value(): string {
    return this.current;
  }

  /** Announces a new value; rejects with LockLostError if this candidate no longer leads. */
  async proclaim(value: string): Promise<void> {
    if (this.signal.aborted) throw this.signal.reason;
    try {
      await this.ops.proclaim(this.name, this.leaseId, value);
    } catch (e) {
      if (e instanceof QuorumLockError && e.code === status.FAILED_PRECONDITION) {
        this.lost(e.code, e.message);
        throw this.signal.reason;
      }
      throw e;
    }
    this.current = value;
  }

  /** Steps down (the next candidate in line is elected) and ends the lease. */
  async resign(): Promise<boolean> {
    const live = this.finish(RESIGNED);
    if (!live) return false;
    try {
      return await this.ops.resign(this.name, this.leaseId);
    } finally {
      await ignoreRejection(this.ops.releaseLease(this.leaseId), RELEASE_IS_BEST_EFFORT);
    }
  }
}
