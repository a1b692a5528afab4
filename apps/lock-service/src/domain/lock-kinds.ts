// The rules of shared locks, semaphores and lock-delay, as plain functions of a mutex record:
// who may be granted it next to whom, and the record's holder list. The state machine applies
// them; a mutex (every election, and a lock nobody asked more of) never has more than these
// functions read.
import type { HoldKind, Holder, Mutex, Waiter } from './model.js';

/** The highest semaphore limit a request may ask for. */
export const MAX_LIMIT = 10_000;
/** The longest lock-delay a request may ask for (ms). */
export const MAX_LOCK_DELAY_MS = 60_000;

/** A request's limit as the name keeps it: 0 and 1 both mean a mutex. */
export function normalLimit(limit: number | undefined): number {
  return limit !== undefined && limit > 1 ? limit : 1;
}

/** The EXCLUSIVE holders the name allows at once. */
export function limitOf(m: Mutex): number {
  return m.limit ?? 1;
}

/** Every holder of m, oldest (first granted) first. */
export function holdersOf(m: Mutex): readonly Holder[] {
  if (!m.holder) return [];
  return m.others ? [m.holder, ...m.others] : [m.holder];
}

export function holderCount(m: Mutex): number {
  return m.holder ? 1 + (m.others?.length ?? 0) : 0;
}

/** The hold of the lease on m, if it holds it. */
export function holdOf(m: Mutex, leaseId: string): Holder | undefined {
  if (m.holder?.lease_id === leaseId) return m.holder;
  return m.others?.find((h) => h.lease_id === leaseId);
}

/** The latest grant's holder (its token is the highest of m's). */
export function newestHolder(m: Mutex): Holder | null {
  return m.others?.[m.others.length - 1] ?? m.holder;
}

/** Whether m is in a lock-delay at the lease-clock time `clock`. */
export function delayed(m: Mutex, clock: number): boolean {
  return m.delayed_until !== undefined && m.delayed_until > clock;
}

/**
 * Whether a request of kind `w` may hold m next to its holders now. Holders all share one mode
 * (this admits no other), so the oldest one tells it. FIFO order is the caller's: only the
 * queue's head, or a request when nobody waits, is asked about.
 */
export function admits(m: Mutex, w: HoldKind, clock: number): boolean {
  if (delayed(m, clock)) return false;
  const h = m.holder;
  if (!h) return true;
  if (w.shared) return h.shared === true;
  return h.shared !== true && holderCount(m) < limitOf(m);
}

/** A grant's holder record: the waiter's kind, carried only when it is not a plain mutex's. */
export function holderFor(w: Waiter, leaseId: string, token: number): Holder {
  const h: { -readonly [K in keyof Holder]: Holder[K] } = {
    lease_id: leaseId,
    owner: w.owner,
    value: w.value,
    token,
  };
  if (w.shared) h.shared = true;
  if (w.delay_ms) h.delay_ms = w.delay_ms;
  return h;
}

/** The fields of a mutex record that change, each optional one absent when unused. */
export interface MutexPatch {
  holder?: Holder | null;
  others?: readonly Holder[] | undefined;
  queue?: readonly Waiter[];
  limit?: number | undefined;
  delayed_until?: number | undefined;
}

/**
 * A new record of m with the patch applied. Optional fields left undefined are dropped, not
 * kept as undefined, so that a mutex's record has the shape (and size) it always had.
 */
export function remake(m: Mutex, patch: MutexPatch): Mutex {
  // An optional field the patch names replaces m's even with undefined, which clears it; holder
  // and queue are replaced when given. Read one by one rather than spread, which was 2% of a
  // leader's CPU (objects of many shapes take V8's slow path).
  const others = 'others' in patch ? patch.others : m.others;
  const limit = 'limit' in patch ? patch.limit : m.limit;
  const delayedUntil = 'delayed_until' in patch ? patch.delayed_until : m.delayed_until;
  const r: { -readonly [K in keyof Mutex]: Mutex[K] } = {
    kind: m.kind,
    name: m.name,
    holder: patch.holder !== undefined ? patch.holder : m.holder,
    queue: patch.queue ?? m.queue,
  };
  if (others && others.length > 0) r.others = others;
  if (limit !== undefined && limit > 1) r.limit = limit;
  if (delayedUntil !== undefined) r.delayed_until = delayedUntil;
  return r;
}

/** The patch that makes `holders` (oldest first) m's holders. */
export function holdersPatch(holders: readonly Holder[]): MutexPatch {
  return {
    holder: holders[0] ?? null,
    others: holders.length > 1 ? holders.slice(1) : undefined,
  };
}

/**
 * Mutexes whose lock-delay ends, by (end, key): every replica ends them in the same order,
 * however it built the queue. Lazy: a delay extended or ended leaves its old entry, which the
 * state machine skips when it no longer matches the record.
 */
export class DelayQueue {
  private readonly heap: { until: number; key: string }[] = [];

  get size(): number {
    return this.heap.length;
  }

  /** The earliest end queued (possibly stale: then a little early, never late). */
  peek(): number | undefined {
    return this.heap[0]?.until;
  }

  add(until: number, key: string): void {
    const h = this.heap;
    h.push({ until, key });
    for (let i = h.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  /** Takes the earliest entry if it ends at or before `clock`. */
  takeDue(clock: number): { until: number; key: string } | undefined {
    const h = this.heap;
    const top = h[0];
    if (!top || top.until > clock) return undefined;
    const last = h.pop()!;
    if (h.length === 0) return top;
    h[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.before(l, m)) m = l;
      if (r < h.length && this.before(r, m)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
    return top;
  }

  clear(): void {
    this.heap.length = 0;
  }

  private before(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.until < y.until || (x.until === y.until && x.key < y.key);
  }
}
