import { randomBytes } from 'node:crypto';

/** A scheduled callback that can be cancelled. */
export interface Timer {
  cancel(): void;
}

/**
 * Local monotonic time and timers: the domain's only access to time, so that a simulator can
 * run it on virtual time.
 */
export interface Runtime {
  /** Local monotonic time in ms. */
  now(): number;
  /** Runs fn after ms (like setTimeout). */
  after(ms: number, fn: () => void): Timer;
  /** Runs fn on a later turn, after what is already pending (like setImmediate). */
  soon(fn: () => void): void;
}

export const systemRuntime: Runtime = {
  now: () => performance.now(),
  after(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(t) };
  },
  soon: (fn) => void setImmediate(fn),
};

/** Lease ids and server-made request ids: 16 hex digits, unique in practice. */
export interface IdSource {
  next(): string;
}

export const randomIds: IdSource = { next: () => randomBytes(8).toString('hex') };
