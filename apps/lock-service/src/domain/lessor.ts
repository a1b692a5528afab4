import { MinHeap } from '../../../../libs/raft/src/index.js';
import type { SmEvent } from './events.js';
import type { LockStateMachine } from './state-machine.js';

/**
 * The lease clock of one node. Every node notes when (on its own monotonic clock) it applied
 * each lease's latest log event; only the leader keeps deadlines and decides expiry.
 *
 * Safety rests on one rule: a deadline this node computes is never earlier than the deadline
 * a client was promised. Renewals acknowledged in memory (no fsync) are allowed only while the
 * log says "remaining unknown" for that lease, so that a new leader grants a full TTL from its
 * own start; once a checkpoint persisted the remaining TTL, renewals go through the log. A
 * checkpoint's remaining TTL counts from when this node applied it, which is after it was
 * written, so it can only err late. Checkpointing every lease with in-memory renewals keeps
 * a dead client's lease from outliving TTL + election timeout + checkpoint interval.
 */
export class Lessor {
  /** lease -> local time of its latest log event and the remaining TTL it carried (null: full). */
  private readonly base = new Map<string, { at: number; remaining: number | null; ttl: number }>();
  private readonly deadlines = new Map<string, number>();
  /**
   * Deadlines in time order, so that the expiry scan touches only leases that are due. An
   * entry whose deadline has since moved is stale and dropped when it surfaces; renewals add
   * entries, and each surfaces (and goes) within one TTL, so the heap stays a few per lease.
   */
  private readonly byDeadline = new MinHeap<[number, string]>((a, b) => a[0] < b[0]);
  /** Leases renewed in memory since their last checkpoint. */
  private readonly dirty = new Set<string>();
  private readonly checkpointing = new Set<string>();
  private readonly expiring = new Set<string>();
  private leading = false;

  constructor(
    private readonly sm: LockStateMachine,
    private readonly now: () => number = () => performance.now(),
  ) {
    sm.onEvent((e) => this.onEvent(e));
  }

  get isLeading(): boolean {
    return this.leading;
  }

  private onEvent(e: SmEvent): void {
    switch (e.type) {
      case 'lease': {
        const at = this.now();
        this.base.set(e.lease_id, { at, remaining: e.remaining_ms, ttl: e.ttl_ms });
        this.checkpointing.delete(e.lease_id);
        if (this.leading && e.remaining_ms === null) {
          this.setDeadline(e.lease_id, at + e.ttl_ms);
          // Persist its remaining TTL soon, or leader changes would each grant it a fresh TTL.
          this.dirty.add(e.lease_id);
        }
        return;
      }
      case 'lease_gone':
        this.base.delete(e.lease_id);
        this.deadlines.delete(e.lease_id);
        this.dirty.delete(e.lease_id);
        this.checkpointing.delete(e.lease_id);
        this.expiring.delete(e.lease_id);
        return;
      case 'restored': {
        // A snapshot carries no local times: count everything from now, full TTL where unknown.
        this.base.clear();
        const at = this.now();
        for (const l of this.sm.leases.values())
          this.base.set(l.id, { at, remaining: l.checkpoint_ms, ttl: l.ttl_ms });
        return;
      }
      default:
        return;
    }
  }

  /** This node's no-op of its term is applied: it knows every lease and may now decide. */
  startLeading(): void {
    const now = this.now();
    this.leading = true;
    this.deadlines.clear();
    this.byDeadline.clear();
    this.dirty.clear();
    this.checkpointing.clear();
    this.expiring.clear();
    for (const l of this.sm.leases.values()) {
      const b = this.base.get(l.id) ?? { at: now, remaining: null, ttl: l.ttl_ms };
      if (b.remaining === null) {
        // The previous leader may have renewed it in memory until it lost leadership.
        this.setDeadline(l.id, now + l.ttl_ms);
        this.dirty.add(l.id);
      } else {
        this.setDeadline(l.id, b.at + b.remaining);
      }
    }
  }

  stopLeading(): void {
    this.leading = false;
    this.deadlines.clear();
    this.byDeadline.clear();
    this.dirty.clear();
    this.checkpointing.clear();
    this.expiring.clear();
  }

  remainingMs(leaseId: string): number {
    const d = this.deadlines.get(leaseId);
    return d === undefined ? 0 : Math.max(0, Math.round(d - this.now()));
  }

  isExpired(leaseId: string): boolean {
    const d = this.deadlines.get(leaseId);
    return d === undefined || d <= this.now();
  }

  /**
   * Renews in memory when that is safe (see the class comment); returns false when the renewal
   * must go through the log instead. The caller has confirmed leadership after the request came.
   */
  renewInMemory(leaseId: string): boolean {
    const lease = this.sm.leases.get(leaseId);
    if (!this.leading || !lease) return false;
    if (
      lease.checkpoint_ms !== null ||
      this.checkpointing.has(leaseId) ||
      this.expiring.has(leaseId)
    )
      return false;
    this.setDeadline(leaseId, this.now() + lease.ttl_ms);
    this.dirty.add(leaseId);
    return true;
  }

  private setDeadline(leaseId: string, deadline: number): void {
    this.deadlines.set(leaseId, deadline);
    this.byDeadline.push([deadline, leaseId]);
  }

  /** Leases whose deadline passed and that are not already being expired: [id, seq]. */
  takeExpired(keepAlive: (leaseId: string) => boolean, max = 1000): [string, number][] {
    const now = this.now();
    const out: [string, number][] = [];
    const kept: [number, string][] = [];
    for (
      let top = this.byDeadline.peek();
      top && top[0] <= now && out.length < max;
      top = this.byDeadline.peek()
    ) {
      this.byDeadline.pop();
      const [d, id] = top;
      if (this.deadlines.get(id) !== d || this.expiring.has(id)) continue; // stale or in hand
      if (keepAlive(id)) {
        kept.push(top); // its open call renews it; look again next scan
        continue;
      }
      const lease = this.sm.leases.get(id);
      if (!lease) continue;
      this.expiring.add(id);
      out.push([id, lease.seq]);
    }
    for (const k of kept) this.byDeadline.push(k);
    return out;
  }

  /** Of the given leases, those past half their TTL: their holders' calls are still open. */
  dueForRenewal(leaseIds: Iterable<string>): string[] {
    const now = this.now();
    const out: string[] = [];
    for (const id of leaseIds) {
      const d = this.deadlines.get(id);
      const lease = this.sm.leases.get(id);
      if (d !== undefined && lease && d - now < lease.ttl_ms / 2 && !this.expiring.has(id))
        out.push(id);
    }
    return out;
  }

  /** An expire proposal failed or was ignored: the lease may be looked at again. */
  expireSettled(leaseId: string): void {
    const d = this.deadlines.get(leaseId);
    if (this.expiring.delete(leaseId) && d !== undefined) this.byDeadline.push([d, leaseId]);
  }

  /**
   * Remaining TTLs to persist: every lease renewed in memory since its last checkpoint and not
   * renewed within quietMs. Called every quietMs, a lease whose holder died is persisted within
   * twice that of its last renewal.
   */
  takeCheckpoint(quietMs = 0, max = 10_000): [string, number, number][] {
    const now = this.now();
    const out: [string, number, number][] = [];
    for (const id of this.dirty) {
      const lease = this.sm.leases.get(id);
      const d = this.deadlines.get(id);
      // A lease renewed within quietMs has a live holder: persisting its TTL would only push its
      // next renewals through the log. It stays dirty and is persisted once its holder is quiet.
      if (lease && d !== undefined && d - lease.ttl_ms > now - quietMs) continue;
      this.dirty.delete(id);
      if (!lease || d === undefined || d <= now || this.expiring.has(id)) continue;
      this.checkpointing.add(id);
      out.push([id, Math.ceil(d - now), lease.seq]);
      if (out.length >= max) break;
    }
    return out;
  }

  /** A checkpoint proposal failed: those leases keep renewing in memory and are retried. */
  checkpointFailed(ids: readonly string[]): void {
    for (const id of ids) {
      if (this.checkpointing.delete(id)) this.dirty.add(id);
    }
  }
}
