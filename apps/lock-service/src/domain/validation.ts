import { invalidArgument } from './errors.js';
import { LockMode } from './api.js';
import { MAX_LIMIT, MAX_LOCK_DELAY_MS } from './lock-kinds.js';

export const DEFAULT_TTL_MS = 15_000;
export const MAX_TTL_MS = 3_600_000;
export const MAX_WAIT_MS = 600_000;
/** Ours are 16 hex digits; longer ids cannot be known leases. */
export const MAX_LEASE_ID_BYTES = 64;

const utf8 = new TextEncoder();
// C0 and C1 control characters, DEL, and the Unicode line/paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function bytes(s: string): number {
  return utf8.encode(s).byteLength;
}

/** A lock or election name, an owner or a candidate: 1..max bytes of printable UTF-8. */
export function checkName(field: string, value: unknown, maxBytes: number): string {
  if (typeof value !== 'string' || value.length === 0)
    throw invalidArgument(field, 'must not be empty');
  if (value.includes('\ufffd') || !value.isWellFormed())
    throw invalidArgument(field, 'must be valid UTF-8');
  if (CONTROL.test(value)) throw invalidArgument(field, 'must not contain control characters');
  const n = bytes(value);
  if (n > maxBytes) throw invalidArgument(field, `must be at most ${maxBytes} bytes, got ${n}`);
  return value;
}

export function checkOptional(field: string, value: unknown, maxBytes: number): string {
  const s = typeof value === 'string' ? value : '';
  const n = bytes(s);
  if (n > maxBytes) throw invalidArgument(field, `must be at most ${maxBytes} bytes, got ${n}`);
  return s;
}

/**
 * A lease id this service never handed out is an unknown lease, whatever it looks like: the API
 * answers NOT_FOUND for Renew of an unknown lease and released = false for a Release by a lease
 * that holds nothing, and lease_id is not among the fields it validates. (Refusing ids that are
 * not our hex format as INVALID_ARGUMENT broke that for ids such as "no-such-lease".) Only the
 * size is bounded, since a Release puts the id in the log.
 */
export function checkLeaseId(field: string, value: unknown, required: boolean): string {
  const s = typeof value === 'string' ? value : '';
  if (s === '' && required) throw invalidArgument(field, 'must not be empty');
  return checkOptional(field, s, MAX_LEASE_ID_BYTES);
}

/**
 * The granted TTL: 0 means the default; below the minimum it is raised (a lease shorter than a
 * leader change could not be kept safely); above an hour it is refused.
 */
export function grantedTtl(field: string, value: unknown, minTtlMs: number): number {
  const v = Number(value ?? 0);
  if (!Number.isInteger(v) || v < 0) throw invalidArgument(field, 'must be a non-negative integer');
  if (v > MAX_TTL_MS) throw invalidArgument(field, `must be at most ${MAX_TTL_MS} ms, got ${v}`);
  if (v === 0) return Math.max(DEFAULT_TTL_MS, minTtlMs);
  return Math.max(v, minTtlMs);
}

export function checkWait(field: string, value: unknown): number {
  const v = Number(value ?? 0);
  if (!Number.isInteger(v) || v < 0) throw invalidArgument(field, 'must be a non-negative integer');
  if (v > MAX_WAIT_MS) throw invalidArgument(field, `must be at most ${MAX_WAIT_MS} ms, got ${v}`);
  return v;
}

/** A lock's hold kind: mode, semaphore limit and lock-delay, checked together. */
export function checkHoldKind(r: { mode: unknown; limit: unknown; lock_delay_ms: unknown }): {
  shared: boolean;
  limit: number;
  delayMs: number;
} {
  const mode = Number(r.mode ?? 0);
  const modes: number[] = [LockMode.LOCK_MODE_EXCLUSIVE, LockMode.LOCK_MODE_SHARED];
  if (!modes.includes(mode))
    throw invalidArgument('mode', `must be LOCK_MODE_EXCLUSIVE or LOCK_MODE_SHARED, got ${mode}`);
  const limit = Number(r.limit ?? 0);
  if (!Number.isInteger(limit) || limit < 0)
    throw invalidArgument('limit', 'must be a non-negative integer');
  if (limit > MAX_LIMIT)
    throw invalidArgument('limit', `must be at most ${MAX_LIMIT}, got ${limit}`);
  const shared = mode === Number(LockMode.LOCK_MODE_SHARED);
  if (shared && limit !== 0)
    throw invalidArgument(
      'limit',
      'applies to EXCLUSIVE holders: not allowed with LOCK_MODE_SHARED',
    );
  const delayMs = Number(r.lock_delay_ms ?? 0);
  if (!Number.isInteger(delayMs) || delayMs < 0)
    throw invalidArgument('lock_delay_ms', 'must be a non-negative integer');
  if (delayMs > MAX_LOCK_DELAY_MS)
    throw invalidArgument(
      'lock_delay_ms',
      `must be at most ${MAX_LOCK_DELAY_MS} ms, got ${delayMs}`,
    );
  return { shared, limit, delayMs };
}

/** max(1000, 1.5 x the maximum election timeout). */
export function minTtl(electionTimeoutMaxMs: number): number {
  return Math.max(1000, Math.ceil(1.5 * electionTimeoutMaxMs));
}
