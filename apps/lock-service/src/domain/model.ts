import { hash } from 'node:crypto';
import type { Caller, MutexKind } from './commands.js';

// The replicated state's records, as the state's tables (lease-, mutex- and retry-table.ts)
// read and write them: values, never changed in place; a change writes a new record into its
// row, so that a snapshot in progress still sees every record as it was when it began. Sized
// for a million leases: no per-record Set, a lease with one lock refers to it by one string.

/** Mutex keys as a lease refers to them: none, one (the common case), or several. */
export type Keys = string | readonly string[] | null;

/** A lease as the lease table (lease-table.ts) reads and writes it: a value, made on demand. */
export interface Lease {
  readonly id: string;
  readonly ttl_ms: number;
  /**
   * Lease-clock time (ms) at which the lease expires: the stamp of the entry that created or
   * last renewed it, plus its TTL. The first entry stamped at or after it expires the lease.
   */
  readonly expires_at: number;
  /** Keys of the mutexes it holds and waits for (see stateKey). */
  readonly holds: Keys;
  readonly waits: Keys;
  /**
   * The waiting request that created the lease. The leader keeps such a lease alive while that
   * call waits (its caller cannot know the id yet, so cannot renew it); any other lease is its
   * owner's to renew. A timed-out wait drops it. '' for any other lease.
   */
  readonly created_for: string;
  /**
   * The identity that created the lease: only it (or an admin) may renew, release, keep alive
   * or acquire with it. Absent, not '', when there is none (the server runs without
   * --auth-config), so that it costs nothing then; one string per identity otherwise
   * (LockState.intern).
   */
  readonly principal?: string;
}

/**
 * How a grant was asked for, beyond a plain mutex: a SHARED hold, and a lock-delay (ms) that
 * bars the name from new grants when the hold ends by its lease's expiry. Each field is absent,
 * not false or 0, when unused, so that a mutex's records stay as small as they were.
 */
export interface HoldKind {
  readonly shared?: true;
  readonly delay_ms?: number;
}

export interface Waiter extends HoldKind {
  readonly lease_id: string;
  readonly owner: string;
  readonly value: string;
  readonly request_id: string;
}

export interface Holder extends HoldKind {
  readonly lease_id: string;
  readonly owner: string;
  readonly value: string;
  readonly token: number;
}

/**
 * A lock or an election: its holders in grant order, then waiters in FIFO order. A mutex (and
 * every election) has one holder at most; a shared lock or a semaphore may have more, the
 * oldest in `holder` and the rest in `others`, which a mutex never has.
 */
export interface Mutex {
  readonly kind: MutexKind;
  readonly name: string;
  /** The oldest holder; null when none. */
  readonly holder: Holder | null;
  /** The holders granted after `holder`, in grant order; absent when there are none. */
  readonly others?: readonly Holder[];
  readonly queue: readonly Waiter[];
  /** EXCLUSIVE holders allowed at once when above 1 (a semaphore); absent for a mutex. */
  readonly limit?: number;
  /** Lease-clock time until which a lock-delay bars new grants; absent when none. */
  readonly delayed_until?: number;
}

export const NO_WAITERS: readonly Waiter[] = Object.freeze([]);

/**
 * A mutex's key in the state: a lock's name itself (no new string per lock), an election's
 * name after a control character, which names never contain.
 */
export function stateKey(kind: MutexKind, name: string): string {
  return kind === 'lock' ? name : `\u0001${name}`;
}

/**
 * The scope of a client's request id: the lock or election it names. The retry table is shared
 * by every lock and election, and the same id sent for another one is another request.
 */
export function requestScope(kind: MutexKind, name: string): string {
  return (kind === 'lock' ? 'l:' : 'e:') + name;
}

/**
 * The retry table's key of a request id: 128 bits of its SHA-256, a 16-character string
 * instead of a client's id of up to 64 bytes behind its scope. Collisions are as likely as
 * guessing a random 128-bit number.
 */
export function requestKey(requestId: string): string {
  // Decoded from the digest's first 16 bytes, not sliced from the whole digest as a string: V8
  // keeps a slice of 13 characters or more as a view that pins its 32-character parent, which
  // made each key 86 bytes of heap and two objects instead of 38 bytes and one.
  return hash('sha256', requestId, 'buffer').toString('latin1', 0, 16);
}

/** Whether `by` may use the lease: it is the lease's identity's, or an admin's. */
export function mayUse(lease: Lease, by: Caller | undefined): boolean {
  // Entries written before identities existed name no caller: they applied unchecked.
  return by === undefined || by.admin || (lease.principal ?? '') === by.principal;
}

export function keysOf(k: Keys): readonly string[] {
  return k === null ? [] : typeof k === 'string' ? [k] : k;
}

export function keysHas(k: Keys, key: string): boolean {
  return k === key || (Array.isArray(k) && k.includes(key));
}

export function keysAdd(k: Keys, key: string): Keys {
  if (k === null) return key;
  if (keysHas(k, key)) return k;
  return typeof k === 'string' ? [k, key] : [...k, key];
}

export function keysDelete(k: Keys, key: string): Keys {
  if (k === key) return null;
  if (typeof k === 'string' || k === null) return k;
  const rest = k.filter((x) => x !== key);
  return rest.length === 0 ? null : rest.length === 1 ? rest[0]! : rest;
}

export function keysCount(k: Keys): number {
  return k === null ? 0 : typeof k === 'string' ? 1 : k.length;
}
