import { grown } from './keyed-rows.js';

/**
 * Lease rows by expiry: a binary heap of row numbers in a typed array, each row knowing its
 * position (`pos`), so that a renewal moves its lease in place and a release removes it: one
 * entry per live lease, whatever clients do, and no heap object per entry.
 *
 * The order is the lease table's `before`, (expiry, id): a total order, so every replica pops
 * the same leases in the same order whatever order it built its heap in (a replica restored from
 * a snapshot builds it in another order than one that applied the log), which keeps a bounded
 * batch of expiries deterministic.
 */
export class ExpiryQueue {
  private heap = new Int32Array(1024);
  private n = 0;
  /** Heap position per row; -1 when not queued. */
  private pos = new Int32Array(1024).fill(-1);

  constructor(private readonly before: (a: number, b: number) => boolean) {}

  get size(): number {
    return this.n;
  }

  /** The row expiring first, or -1 when none is queued. */
  peek(): number {
    return this.n === 0 ? -1 : this.heap[0]!;
  }

  /** Room for rows below `rows`. */
  resize(rows: number): void {
    const old = this.pos.length;
    this.pos = grown(this.pos, rows);
    this.pos.fill(-1, old);
    if (this.heap.length < rows) this.heap = grown(this.heap, rows);
  }

  add(row: number): void {
    this.pos[row] = this.n;
    this.heap[this.n++] = row;
    this.up(this.n - 1);
  }

  /** The row's expiry changed: it moves to its place. */
  moved(row: number): void {
    const i = this.pos[row]!;
    if (i < 0) throw new Error(`expiry queue: row ${row} is not queued`);
    this.up(i);
    this.down(this.pos[row]!);
  }

  delete(row: number): void {
    const i = this.pos[row]!;
    if (i < 0) return;
    this.pos[row] = -1;
    const last = this.heap[--this.n]!;
    if (i === this.n) return;
    this.heap[i] = last;
    this.pos[last] = i;
    this.up(i);
    this.down(this.pos[last]);
  }

  private less(a: number, b: number): boolean {
    return this.before(this.heap[a]!, this.heap[b]!);
  }

  private swap(a: number, b: number): void {
    const h = this.heap;
    const x = h[a]!;
    const y = h[b]!;
    h[a] = y;
    h[b] = x;
    this.pos[y] = a;
    this.pos[x] = b;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) return;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.n;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
