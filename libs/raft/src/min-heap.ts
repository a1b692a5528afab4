/** A binary min-heap under a caller's ordering: timers and deadlines, without a dependency. */
export class MinHeap<T> {
  private items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  // Sifting moves the item along a path of slots, writing each parent or child it passes into
  // the slot it leaves; every index read is below a.length, checked just before.
  push(item: T): void {
    const a = this.items;
    let i = a.length;
    a.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = a[p]!;
      if (!this.before(item, parent)) break;
      a[i] = parent;
      i = p;
    }
    a[i] = item;
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let best = last;
      if (l < a.length && this.before(a[l]!, best)) [m, best] = [l, a[l]!];
      if (r < a.length && this.before(a[r]!, best)) [m, best] = [r, a[r]!];
      if (m === i) break;
      a[i] = best;
      i = m;
    }
    a[i] = last;
    return top;
  }

  clear(): void {
    this.items = [];
  }
}
