/**
 * Leases by expiry time: one entry per live lease, updated in place when it is renewed and
 * removed when it goes, so that its size is the number of leases whatever clients do.
 *
 * Ordered by (expiry, id), a total order: every replica pops the same leases in the same
 * order, whatever order it built its queue in (a replica restored from a snapshot builds it in
 * another order than one that applied the log), which keeps a bounded batch of expiries
 * deterministic.
 */
export class ExpiryQueue {
  private readonly heap: { at: number; id: string }[] = [];
  private readonly pos = new Map<string, number>();

  get size(): number {
    return this.heap.length;
  }

  /** The earliest expiry, or undefined when there are no leases. */
  peek(): number | undefined {
    return this.heap[0]?.at;
  }

  /** Adds the lease, or moves it to its new expiry. */
  set(id: string, at: number): void {
    const i = this.pos.get(id);
    if (i === undefined) {
      this.heap.push({ id, at });
      this.pos.set(id, this.heap.length - 1);
      this.up(this.heap.length - 1);
      return;
    }
    const old = this.heap[i]!.at;
    this.heap[i]!.at = at;
    if (at < old) this.up(i);
    else this.down(i);
  }

  delete(id: string): void {
    const i = this.pos.get(id);
    if (i === undefined) return;
    const last = this.heap.pop()!;
    this.pos.delete(id);
    if (i === this.heap.length) return;
    this.heap[i] = last;
    this.pos.set(last.id, i);
    this.up(i);
    this.down(i);
  }

  /** Removes and returns the lease expiring first if it expires at or before `clock`. */
  popDue(clock: number): string | undefined {
    const top = this.heap[0];
    if (!top || top.at > clock) return undefined;
    this.delete(top.id);
    return top.id;
  }

  clear(): void {
    this.heap.length = 0;
    this.pos.clear();
  }

  private before(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.at < y.at || (x.at === y.at && x.id < y.id);
  }

  private swap(a: number, b: number): void {
    const h = this.heap;
    [h[a], h[b]] = [h[b]!, h[a]!];
    this.pos.set(h[a].id, a);
    this.pos.set(h[b].id, b);
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
