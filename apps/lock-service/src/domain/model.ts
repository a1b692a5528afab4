import type { MutexKind } from './commands.js';

export interface Lease {
  readonly id: string;
  readonly ttl_ms: number;
  /** Bumped by every renewal that goes through the log. */
  seq: number;
  /**
   * Remaining TTL the leader last persisted, or null when the lease was created or renewed
   * through the log since: a new leader then grants a full TTL from its own start.
   */
  checkpoint_ms: number | null;
  /** Mutex keys held and waited for. */
  holds: Set<string>;
  waits: Set<string>;
  /** The request that created the lease for a wait, so a timed-out wait can drop it. */
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
