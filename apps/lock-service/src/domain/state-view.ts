import type { ApplyResult, MutexKind } from './commands.js';
import type { LockTally } from './lock-state.js';
import type { Lease, Mutex } from './model.js';

/**
 * What everyone but the state machine itself may know of the replicated state: read-only
 * queries. Callers make them linearizable with a read barrier where they need to.
 */
export interface LockStateView {
  /** The lease clock: the latest stamp applied (ms). */
  readonly clock: number;
  readonly leaseCount: number;
  /** The lease if it has not reached its expiry by the lease clock. */
  live(leaseId: string): Readonly<Lease> | undefined;
  mutex(kind: MutexKind, name: string): Readonly<Mutex> | undefined;
  /** Figures kept as the state changes, for metrics: reading them scans nothing. */
  readonly tally: Readonly<LockTally>;
  /** The mutex key a request waits on, while it waits. */
  waitingOn(requestId: string): string | undefined;
  /** The result a request got, while the retry table keeps it. */
  recorded(requestId: string): ApplyResult | undefined;
  /** The earliest lease expiry on the lease clock, or undefined without leases. */
  nextExpiry(): number | undefined;
  /** The client address a member announced through the log. */
  memberAddress(id: string): string | undefined;
}
