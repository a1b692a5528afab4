// Waiting in tests and benchmarks. Whatever waits for something to happen polls for it with
// waitFor, bounded; sleep is for time passing on purpose only: a workload's pacing, or a test
// whose subject is time itself.
import { asError } from '../../common/src/errors.js';

/** Short against the tens of milliseconds a process, a stream or an election takes to move. */
const POLL_MS = 20;

/**
 * Thrown by a condition to end its wait at once: what it waits for can no longer happen (the
 * process that was to bring it has exited, say).
 */
export class GiveUp extends Error {
  override name = 'GiveUp';
}

/**
 * Polls cond every 20 ms until it returns a truthy value; fails after timeoutMs with what.
 * A condition that throws is retried (a node may be down for a moment), but a failed expect()
 * or a GiveUp inside it fails the wait at once: a later poll that passes must not hide it. On
 * timeout the last error thrown is in the message and is the cause.
 */
export async function waitFor<T>(
  what: string,
  cond: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastErr: unknown;
  while (performance.now() < deadline) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      if (isAssertionError(e) || e instanceof GiveUp) throw e;
      lastErr = e;
    }
    await sleep(POLL_MS);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(asError(lastErr))}` : ''}`,
    { cause: lastErr },
  );
}

/** Jest's expect() failures carry the matcher's result. */
function isAssertionError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && 'matcherResult' in e;
}

/** Lets ms pass. Never to wait for something: that is waitFor's job. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/** What within() gives when the promise has not settled in time. */
export const TIMED_OUT = Symbol('timed out');

/**
 * The promise's value, or TIMED_OUT if it has not settled within ms; a rejection in time is
 * thrown. The timer is cleared either way, so that a bounded wait leaves nothing running.
 */
export async function within<T>(
  promise: PromiseLike<T>,
  ms: number,
): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof TIMED_OUT>((r) => (timer = setTimeout(() => r(TIMED_OUT), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
