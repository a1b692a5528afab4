import { Code, DomainError, leaseNotFound, unavailable } from './errors.js';
import type { SmEvent } from './events.js';
import type { Runtime, Timer } from './runtime.js';

export interface WaitOutcome {
  granted: boolean;
  lease_id: string;
  token: number;
  ttl_ms: number;
  holder: string;
}

interface Pending {
  lease_id: string;
  ownLease: boolean;
  resolve: (o: WaitOutcome) => void;
  reject: (e: Error) => void;
  timer: Timer;
  /** The call went away: cancel once the grace ends, unless a retry takes the wait over. */
  onAbort: () => void;
  signal?: AbortSignal;
}

/**
 * Acquire/Campaign calls waiting in a queue on this (leader) node. They end when the state
 * machine grants, cancels or drops their queue entry; a wait that runs out proposes the cancel.
 */
export interface WaitSlot {
  release(): void;
}

export interface WaitRequest {
  requestId: string;
  leaseId: string;
  /** The wait created its lease: the leader keeps it alive while the call waits. */
  ownLease: boolean;
  untilMs: number;
  /** Taken with reserve() before the acquire was proposed. */
  slot?: WaitSlot;
}

/**
 * How long a wait whose call went away (cancelled by its client, or by the node that forwarded
 * it) stays queued before it is cancelled through the log: a client that moves its call to
 * another node, or retries after a lost connection, sends the same request id, and its retry
 * takes the wait over in that time, keeping its place and not finding it answered "not
 * acquired" by the cancel.
 */
export const ABANDONED_WAIT_GRACE_MS = 1_000;

export class Waits {
  private readonly pending = new Map<string, Pending>();
  /** Slots taken by calls whose acquire is being proposed. */
  private reserved = 0;

  constructor(
    private readonly max: number,
    private readonly runtime: Runtime,
  ) {}

  /** Leases that calls waiting here created: kept alive while the call is open. */
  ownLeases(): string[] {
    const out: string[] = [];
    for (const p of this.pending.values()) if (p.ownLease) out.push(p.lease_id);
    return out;
  }

  /**
   * Takes a slot for a call about to propose a waiting acquire, or throws RESOURCE_EXHAUSTED
   * before anything reaches the log. The slot is released when the call ends, whatever happens.
   */
  reserve(): WaitSlot {
    if (this.pending.size + this.reserved >= this.max)
      throw new DomainError(Code.RESOURCE_EXHAUSTED, 'too many waiting calls');
    this.reserved++;
    let held = true;
    return {
      release: () => {
        if (held) this.reserved--;
        held = false;
      },
    };
  }

  wait(w: WaitRequest, cancel: () => void, signal?: AbortSignal): Promise<WaitOutcome> {
    if (this.pending.has(w.requestId))
      this.settle(w.requestId, undefined, unavailable('superseded by a retry'));
    // The reservation becomes the pending entry: the count stays within max.
    w.slot?.release();
    if (this.pending.size + this.reserved >= this.max) {
      // Only a call that reserved no slot (none does today) could get here; cancel through the
      // log so that no queue entry outlives the refusal.
      cancel();
      return Promise.reject(new DomainError(Code.RESOURCE_EXHAUSTED, 'too many waiting calls'));
    }
    return new Promise((resolve, reject) => {
      const p: Pending = {
        lease_id: w.leaseId,
        ownLease: w.ownLease,
        resolve,
        reject,
        timer: this.runtime.after(Math.max(0, w.untilMs - this.runtime.now()), cancel),
        onAbort: () => {
          p.timer.cancel();
          p.timer = this.runtime.after(
            Math.min(ABANDONED_WAIT_GRACE_MS, Math.max(0, w.untilMs - this.runtime.now())),
            cancel,
          );
        },
        signal,
      };
      signal?.addEventListener('abort', p.onAbort, { once: true });
      this.pending.set(w.requestId, p);
      if (signal?.aborted) p.onAbort();
    });
  }

  onEvent(e: SmEvent): void {
    if (e.type !== 'waiter_done' || !this.pending.has(e.request_id)) return;
    if (e.lost) {
      this.settle(e.request_id, undefined, leaseNotFound());
      return;
    }
    this.settle(e.request_id, {
      granted: e.granted,
      lease_id: e.granted ? e.lease_id : '',
      token: e.token ?? 0,
      ttl_ms: e.ttl_ms ?? 0,
      holder: e.holder ?? '',
    });
  }

  /**
   * The cancel was applied; if no event ended the wait (it had ended before the cancel, say
   * granted in the same batch), answer from the state machine's record.
   */
  settleFromState(requestId: string, outcome: () => WaitOutcome): void {
    if (!this.pending.has(requestId)) return;
    try {
      this.settle(requestId, outcome());
    } catch (e) {
      this.settle(requestId, undefined, e as Error);
    }
  }

  /** The cancel could not be proposed (leadership lost): the caller retries elsewhere. */
  fail(requestId: string, e: Error): void {
    this.settle(requestId, undefined, e);
  }

  failAll(e: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, undefined, e);
  }

  private settle(requestId: string, o: WaitOutcome | undefined, e?: Error): void {
    const p = this.pending.get(requestId);
    if (!p) return;
    this.pending.delete(requestId);
    p.timer.cancel();
    p.signal?.removeEventListener('abort', p.onAbort);
    if (o) p.resolve(o);
    else p.reject(e!);
  }
}
