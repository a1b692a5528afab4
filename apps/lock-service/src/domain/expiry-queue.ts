import type { Lease } from './model.js';

/**
 * Leases by expiry: a binary heap of the current lease records, each knowing its position
 * (`hi`), so that a renewal moves its lease in place and a release removes it: one entry per
 * live lease, whatever clients do.
 *
 * Ordered by (expiry, id), a total order: every replica pops the same leases in the same
 * order, whatever order it built its heap in (a replica restored from a snapshot builds it in
 * another order than one that applied the log), which keeps a bounded batch of expiries
 * deterministic.
 */
export class ExpiryQueue {
  private readonly heap: Lease[] = [];

  get size(): number {
    return this.heap.length;
  }

  /** The earliest expiry, or undefined when there are no leases. */
  peek(): number | undefined {
    return this.heap[0]?.expires_at;
  }

  add(l: Lease): void {
    l.hi = this.heap.length;
    this.heap.push(l);
    this.up(l.hi);
  }

  /** Queues every lease of an empty queue in one pass (Floyd's heap construction). */
  build(leases: Iterable<Lease>): void {
    if (this.heap.length !== 0) throw new Error('expiry queue: build into a non-empty queue');
    for (const l of leases) {
      l.hi = this.heap.length;
      this.heap.push(l);
    }
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  /** The lease's record was replaced by next (same id): next takes its place, then moves. */
  replace(prev: Lease, next: Lease): void {
    const i = prev.hi;
    if (this.heap[i] !== prev) throw new Error(`expiry queue: lease ${prev.id} is not queued`);
    next.hi = i;
    this.heap[i] = next;
    if (next.expires_at < prev.expires_at) this.up(i);
    else this.down(i);
  }

  delete(l: Lease): void {
    const i = l.hi;
    if (this.heap[i] !== l) return;
    const last = this.heap.pop()!;
    l.hi = -1;
    if (i === this.heap.length) return;
    this.heap[i] = last;
    last.hi = i;
    this.up(i);
    this.down(last.hi);
  }

  /** The lease expiring first, if it expires at or before `clock`; it stays queued. */
  due(clock: number): Lease | undefined {
    const top = this.heap[0];
    return top && top.expires_at <= clock ? top : undefined;
  }

  clear(): void {
    for (const l of this.heap) l.hi = -1;
    this.heap.length = 0;
  }

  private before(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.expires_at < y.expires_at || (x.expires_at === y.expires_at && x.id < y.id);
  }

  private swap(a: number, b: number): void {
    const h = this.heap;
    const x = h[a]!;
    const y = h[b]!;
    h[a] = y;
    h[b] = x;
    y.hi = a;
    x.hi = b;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) return;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.before(l, m)) m = l;
      if (r < n && this.before(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
