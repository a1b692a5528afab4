import type { MutexKind } from './commands.js';

export interface Lease {
  readonly id: string;
  readonly ttl_ms: number;
  /** Bumped by every renewal. */
  seq: number;
  /**
   * Lease-clock time (ms) at which the lease expires: the stamp of the entry that created or
   * last renewed it, plus its TTL. The first entry stamped at or after it expires the lease.
   */
  expires_at: number;
  /** Mutex keys held and waited for. */
  holds: Set<string>;
  waits: Set<string>;
  /**
   * The waiting request that created the lease. The leader keeps such a lease alive while that
   * call waits (its caller cannot know the id yet, so cannot renew it); any other lease is its
   * owner's to renew. A timed-out wait drops it.
   */
  created_for?: string;
}

export interface Waiter {
  readonly lease_id: string;
  readonly owner: string;
  readonly value: string;
  readonly request_id: string;
}

export interface Holder {
  readonly lease_id: string;
  readonly owner: string;
  value: string;
  readonly token: number;
  readonly request_id: string;
}

/** A lock or an election: one holder, then waiters in FIFO order. */
export interface Mutex {
  readonly kind: MutexKind;
  readonly name: string;
  holder: Holder | null;
  queue: Waiter[];
}

export function mutexKey(kind: MutexKind, name: string): string {
  return (kind === 'lock' ? 'l:' : 'e:') + name;
}
