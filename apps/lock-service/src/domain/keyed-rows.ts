/**
 * Rows kept in typed arrays, found by a fixed-width binary key: the base of the lease and retry
 * tables, which hold a million records without a million heap objects.
 *
 * Why: V8's full collections stop the event loop for a time that grows with the number of live
 * heap objects (about 30 ns each here). A lease as a record object, its id as a string and its
 * expiry as a boxed number made three of them per lease, a retry record four more: at a million
 * leases the pauses outlasted the election timeout. A typed array is one object whatever it holds.
 *
 * A key is `width` unsigned 32-bit words, kept in the row's slots of `keys`. The index is open
 * addressing with linear probing over twice as many slots as rows, and backward-shift deletion,
 * so no tombstones accumulate. Rows are allocated from a free stack and reused; a subclass keeps
 * its columns the same length through `resize`.
 */
export abstract class KeyedRows {
  /** Row capacity; every column holds this many rows. */
  protected cap: number;
  /** width words per row. */
  protected keys: Uint32Array;
  /** 1 for a row in use. */
  protected used: Uint8Array;
  /** Rows ever handed out: rows at or above it were never used. */
  protected top = 0;
  private count = 0;
  private freeRows: Int32Array;
  private freeCount = 0;
  /** row + 1 per slot; 0 for an empty slot. */
  private slots: Int32Array;
  private mask: number;

  protected constructor(
    protected readonly width: number,
    initialRows = 1024,
  ) {
    this.cap = initialRows;
    this.keys = new Uint32Array(initialRows * width);
    this.used = new Uint8Array(initialRows);
    this.freeRows = new Int32Array(initialRows);
    this.slots = new Int32Array(initialRows * 2);
    this.mask = initialRows * 2 - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The row of the key in `k` (width words from `at`), or -1. */
  protected find(k: ArrayLike<number>, at = 0): number {
    const w = this.width;
    for (let s = this.slotOf(k, at); ; s = (s + 1) & this.mask) {
      const r = this.slots[s]! - 1;
      if (r < 0) return -1;
      let same = true;
      for (let i = 0; i < w && same; i++) same = this.keys[r * w + i] === k[at + i];
      if (same) return r;
    }
  }

  /** A new row holding the key (the caller checked it is absent); its columns are the caller's. */
  protected insert(k: ArrayLike<number>, at = 0): number {
    if (this.count === this.cap) this.grow(this.cap * 2);
    const r = this.freeCount > 0 ? this.freeRows[--this.freeCount]! : this.top++;
    const w = this.width;
    for (let i = 0; i < w; i++) this.keys[r * w + i] = k[at + i]!;
    this.used[r] = 1;
    this.count++;
    let s = this.slotOf(k, at);
    while (this.slots[s] !== 0) s = (s + 1) & this.mask;
    this.slots[s] = r + 1;
    return r;
  }

  /** Frees the row and forgets its key. */
  protected remove(r: number): void {
    if (this.used[r] !== 1) throw new Error(`keyed rows: row ${r} is not in use`);
    let s = this.slotOf(this.keys, r * this.width);
    while (this.slots[s] !== r + 1) s = (s + 1) & this.mask;
    // Backward shift: move later entries of the probe run into the gap when their home slot
    // allows, so that every lookup still finds them without tombstones.
    for (let j = (s + 1) & this.mask; this.slots[j] !== 0; j = (j + 1) & this.mask) {
      const home = this.slotOf(this.keys, (this.slots[j]! - 1) * this.width);
      if (((j - home) & this.mask) >= ((j - s) & this.mask)) {
        this.slots[s] = this.slots[j]!;
        s = j;
      }
    }
    this.slots[s] = 0;
    this.used[r] = 0;
    this.freeRows[this.freeCount++] = r;
    this.count--;
  }

  /** Forgets every row. */
  protected reset(): void {
    this.slots.fill(0);
    this.used.fill(0);
    this.top = 0;
    this.count = 0;
    this.freeCount = 0;
  }

  /** Columns of a subclass, copied into arrays of `cap` rows. */
  protected abstract resize(cap: number): void;

  private grow(cap: number): void {
    this.keys = grown(this.keys, cap * this.width);
    this.used = grown(this.used, cap);
    this.freeRows = grown(this.freeRows, cap);
    this.cap = cap;
    this.resize(cap);
    this.slots = new Int32Array(cap * 2);
    this.mask = cap * 2 - 1;
    for (let r = 0; r < this.top; r++) {
      if (this.used[r] !== 1) continue;
      let s = this.slotOf(this.keys, r * this.width);
      while (this.slots[s] !== 0) s = (s + 1) & this.mask;
      this.slots[s] = r + 1;
    }
  }

  /** Keys are mostly random bits already; the mix guards the index against keys that are not. */
  private slotOf(k: ArrayLike<number>, at: number): number {
    let h = 0x9e3779b9;
    for (let i = 0; i < this.width; i++) h = Math.imul(h ^ k[at + i]!, 0x85ebca6b) ^ (h >>> 13);
    h ^= h >>> 16;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h & this.mask;
  }
}

type Typed = Uint8Array | Uint32Array | Int32Array | Float64Array;

/** A copy of `a` with room for `n` elements. */
export function grown<T extends Typed>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}

/** A JS array column (references: strings shared with other records, rare objects). */
export function grownArray<T>(a: T[], n: number, fill: T): T[] {
  for (let i = a.length; i < n; i++) a.push(fill);
  return a;
}
