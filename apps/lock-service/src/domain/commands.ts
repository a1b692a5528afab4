// Commands of the replicated state machine. The leader fills in everything that is not
// deterministic (new lease ids, its lease clock, its limits), so that every node applies exactly
// the same thing.

export type MutexKind = 'lock' | 'election';

/**
 * Who asked, as the node that authorized the call named it: the identity (principal) a new
 * lease belongs to, and the one a lease must belong to for the command to use it. An admin may
 * use any lease. Entries written before identities existed carry none and are not checked.
 */
export interface Caller {
  /** '' when the server runs without --auth-config: every lease then belongs to ''. */
  readonly principal: string;
  readonly admin: boolean;
}

/** The leader acting on its own (renewing a lease its waiting call made): any lease. */
export const LEADER_ITSELF: Caller = Object.freeze({ principal: '', admin: true });

interface Stamped {
  /**
   * The leader's lease clock (ms) when it proposed the command. Lease expiry and retry-table
   * retention are decided by these stamps alone, so every node decides them identically; see
   * lease-clock.ts for why the stamps never run ahead of real time.
   */
  readonly t: number;
}

export interface AcquireCmd extends Stamped {
  readonly op: 'acquire';
  readonly kind: MutexKind;
  readonly name: string;
  readonly owner: string;
  readonly value: string;
  readonly ttl_ms: number;
  readonly wait: boolean;
  readonly request_id: string;
  /** Existing lease to use, or '' to create new_lease_id. */
  readonly lease_id: string;
  readonly new_lease_id: string;
  readonly max_leases: number;
  readonly max_waiters: number;
  /** Locks and elections one lease may hold or wait for (absent in entries of older versions). */
  readonly max_per_lease?: number;
  /** Elections alive at once (absent in entries of older versions). */
  readonly max_elections?: number;
  /** Absent in entries of older versions. */
  readonly by?: Caller;
  /** A SHARED hold (locks only); absent for EXCLUSIVE, and in entries of older versions. */
  readonly shared?: true;
  /** The semaphore limit asked for when above 1; absent for a mutex. */
  readonly limit?: number;
  /** The grant's lock-delay (ms); absent for none. */
  readonly delay_ms?: number;
}

export interface CancelWaitCmd extends Stamped {
  readonly op: 'cancel_wait';
  readonly kind: MutexKind;
  readonly name: string;
  readonly request_id: string;
}

export interface RenewCmd extends Stamped {
  readonly op: 'renew';
  /** Renewals that must go through the log, batched: one entry per turn of the event loop. */
  readonly lease_ids: readonly string[];
  /** Who asked for each renewal, in lease_ids' order (absent in entries of older versions). */
  readonly by?: readonly Caller[];
}

export interface ReleaseCmd extends Stamped {
  readonly op: 'release';
  readonly kind: MutexKind;
  readonly lease_id: string;
  /** '' releases the whole lease and everything it holds or waits for. */
  readonly name: string;
  readonly by?: Caller;
}

/**
 * Carries the lease clock forward: the leader proposes one when a lease is due to expire, and
 * while leases exist at least every --checkpoint-interval-ms, so that a new leader continues the
 * clock instead of restarting it.
 */
export interface TickCmd extends Stamped {
  readonly op: 'tick';
}

export interface ProclaimCmd extends Stamped {
  readonly op: 'proclaim';
  readonly name: string;
  readonly lease_id: string;
  readonly value: string;
  readonly by?: Caller;
}

export interface MemberCmd extends Stamped {
  readonly op: 'member';
  readonly id: string;
  readonly client_address: string;
}

export type Command =
  AcquireCmd | CancelWaitCmd | RenewCmd | ReleaseCmd | TickCmd | ProclaimCmd | MemberCmd;

export { decodeCommand, encodeCommand } from './command-codec.js';

/** What applying a command returns to the node that proposed it. */
export type ApplyResult =
  /** ttl_ms: what the lease has left at the applying entry's stamp (never more than it has). */
  | { status: 'granted'; lease_id: string; token: number; ttl_ms: number }
  | { status: 'held'; holder: string }
  | { status: 'queued'; lease_id: string; ttl_ms: number }
  | { status: 'lease_not_found' }
  | { status: 'not_holder' }
  /** The lease belongs to another identity than the caller's. */
  | { status: 'not_owner' }
  | { status: 'exhausted'; what: string }
  /** The name is held or waited for under another limit, the one given. */
  | { status: 'limit_mismatch'; limit: number }
  /** renew: missing names leases gone; denied, positions of lease_ids not the caller's. */
  | { status: 'ok'; released?: boolean; missing?: string[]; denied?: number[] }
  | { status: 'ignored' };

/** A command before the leader stamps its clock on it. */
export type UnstampedCommand = Command extends infer C
  ? C extends Command
    ? Omit<C, 't'>
    : never
  : never;
