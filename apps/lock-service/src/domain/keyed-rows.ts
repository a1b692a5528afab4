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
 * addressing with linear probing, at most half full, and backward-shift deletion, so no
 * tombstones accumulate. It is split in 64 shards by the hash's top bits, each growing on its
 * own: a growth rehashes a 64th of the keys, never all of them in one event-loop turn (all of
 * half a million took 50 ms). Rows are allocated from a free stack and reused; a subclass keeps
 * its typed columns the same length through `resize`. Its plain-array columns (references to
 * strings shared with other records, rare objects) grow by themselves: a new row is the next
 * index, and each column is written for every new row, so they stay packed. Growing them all at
 * once, element by element, stalled a node for 100 ms at half a million rows.
 */
export abstract class KeyedRows {
  /** Row capacity; every typed column holds this many rows. */
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
  /** Per shard: row + 1 per slot, 0 for an empty slot. */
  private readonly slots: Int32Array[] = [];
  private readonly masks = new Int32Array(SHARDS);
  private readonly filled = new Int32Array(SHARDS);

  protected constructor(
    protected readonly width: number,
    initialRows = 1024,
  ) {
    this.cap = initialRows;
    this.keys = new Uint32Array(initialRows * width);
    this.used = new Uint8Array(initialRows);
    this.freeRows = new Int32Array(initialRows);
    for (let i = 0; i < SHARDS; i++) this.slots.push(new Int32Array(SHARD_SLOTS));
    this.masks.fill(SHARD_SLOTS - 1);
  }

  get size(): number {
    return this.count;
  }

  /** The row of the key in `k` (width words from `at`), or -1. */
  protected find(k: ArrayLike<number>, at = 0): number {
    const w = this.width;
    const h = this.hash(k, at);
    const slots = this.slots[h >>> SHARD_SHIFT]!;
    const mask = this.masks[h >>> SHARD_SHIFT]!;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const r = slots[s]! - 1;
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
    const shard = this.hash(k, at) >>> SHARD_SHIFT;
    if (2 * (this.filled[shard]! + 1) > this.slots[shard]!.length) this.rehash(shard);
    this.place(shard, r);
    this.filled[shard]!++;
    return r;
  }

  /** Frees the row and forgets its key. */
  protected remove(r: number): void {
    if (this.used[r] !== 1) throw new Error(`keyed rows: row ${r} is not in use`);
    const h = this.hash(this.keys, r * this.width);
    const shard = h >>> SHARD_SHIFT;
    const slots = this.slots[shard]!;
    const mask = this.masks[shard]!;
    let s = h & mask;
    while (slots[s] !== r + 1) s = (s + 1) & mask;
    // Backward shift: move later entries of the probe run into the gap when their home slot
    // allows, so that every lookup still finds them without tombstones.
    for (let j = (s + 1) & mask; slots[j] !== 0; j = (j + 1) & mask) {
      const home = this.hash(this.keys, (slots[j]! - 1) * this.width) & mask;
      if (((j - home) & mask) >= ((j - s) & mask)) {
        slots[s] = slots[j]!;
        s = j;
      }
    }
    slots[s] = 0;
    this.filled[shard]!--;
    this.used[r] = 0;
    this.freeRows[this.freeCount++] = r;
    this.count--;
  }

  /** Rows in use, in row order. */
  *rows(): Generator<number> {
    for (let r = 0; r < this.top; r++) if (this.used[r] === 1) yield r;
  }

  /** Typed columns of a subclass, copied into arrays of `cap` rows. */
  protected abstract resize(cap: number): void;

  /** More rows: the typed columns are copied (a memory copy); the index is untouched. */
  private grow(cap: number): void {
    this.keys = grown(this.keys, cap * this.width);
    this.used = grown(this.used, cap);
    this.freeRows = grown(this.freeRows, cap);
    this.cap = cap;
    this.resize(cap);
  }

  /** Doubles one shard's slots, placing its rows again. */
  private rehash(shard: number): void {
    const old = this.slots[shard]!;
    this.slots[shard] = new Int32Array(old.length * 2);
    this.masks[shard] = old.length * 2 - 1;
    for (const v of old) if (v !== 0) this.place(shard, v - 1);
  }

  private place(shard: number, r: number): void {
    const slots = this.slots[shard]!;
    const mask = this.masks[shard]!;
    let s = this.hash(this.keys, r * this.width) & mask;
    while (slots[s] !== 0) s = (s + 1) & mask;
    slots[s] = r + 1;
  }

  /** Keys are mostly random bits already; the mix guards the index against keys that are not. */
  private hash(k: ArrayLike<number>, at: number): number {
    let h = 0x9e3779b9;
    for (let i = 0; i < this.width; i++) h = Math.imul(h ^ k[at + i]!, 0x85ebca6b) ^ (h >>> 13);
    h ^= h >>> 16;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }
}

const SHARDS = 64;
/** The top 6 bits of a hash pick the shard. */
const SHARD_SHIFT = 26;
const SHARD_SLOTS = 64;

type Typed = Uint8Array | Uint32Array | Int32Array | Float64Array;

/** A copy of `a` with room for `n` elements. */
export function grown<T extends Typed>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}
