import { hexId, hexWords } from './hex-ids.js';
import { grown } from './keyed-rows.js';
import type { Holder, Mutex, Waiter } from './model.js';
import { NO_WAITERS } from './model.js';

/** What few mutexes have: more holders, waiters, a semaphore's limit, a lock-delay. */
interface Rest {
  readonly others?: readonly Holder[];
  readonly queue: readonly Waiter[];
  readonly limit?: number;
  readonly delayed_until?: number;
}

/**
 * A Map from names to rows, split in 64 by a hash of the name. A V8 Map grows by copying every
 * entry into a table twice the size in one go: 102 ms at 1,048,576 names, which on a leader is
 * most of an election timeout. A shard grows alone, a 64th of that.
 */
class NameIndex {
  private readonly shards: Map<string, number>[] = Array.from(
    { length: 64 },
    () => new Map<string, number>(),
  );
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(name: string): number | undefined {
    return this.shard(name).get(name);
  }

  /** Adds a name the caller knows is absent. */
  insert(name: string, r: number): void {
    this.shard(name).set(name, r);
    this.count++;
  }

  delete(name: string): void {
    if (this.shard(name).delete(name)) this.count--;
  }

  /**
   * FNV-1a over the length and at most the first and last 8 UTF-16 code units: names that share
   * a prefix (a service's locks, numbered) differ at the end. Hashing every character made a
   * restore of a million names 0.6 s slower.
   */
  private shard(name: string): Map<string, number> {
    const n = name.length;
    let h = Math.imul(0x811c9dc5 ^ n, 0x01000193);
    const head = Math.min(n, 8);
    for (let i = 0; i < head; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    for (let i = Math.max(head, n - 8); i < n; i++) {
      h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    }
    return this.shards[(h ^ (h >>> 16)) & 63]!;
  }
}

/**
 * Locks and elections, a row each in typed arrays (keyed-rows.ts says why), found by their
 * state key (model.ts stateKey) through a NameIndex.
 *
 * The common mutex, one holder and nobody waiting, costs its key string and nothing else on the
 * heap: the holder's lease id is two words (a leader's hex id; any other is kept as given), its
 * owner and value are references (owners are interned, values mostly ''). Anything more (other
 * holders, a queue, a limit, a lock-delay) is kept as one object beside the row. Callers read
 * and write `Mutex` objects made on demand, as with the lease table.
 */
export class MutexTable {
  private readonly index = new NameIndex();
  private cap = 1024;
  private top = 0;
  private free: number[] = [];
  private keys: string[] = [];
  /** 0 for a lock, 1 for an election; 255 for a free row. */
  private kind = new Uint8Array(1024).fill(255);
  private snaps = new Int32Array(1024);
  // The oldest holder, if hasHolder.
  private hasHolder = new Uint8Array(1024);
  private hLease = new Uint32Array(2048);
  private hLeaseOther: (string | undefined)[] = [];
  private hOwner: string[] = [];
  private hValue: string[] = [];
  private hToken = new Float64Array(1024);
  private hShared = new Uint8Array(1024);
  private hDelay = new Float64Array(1024);
  private rest: (Rest | undefined)[] = [];

  constructor() {
    this.resize(this.cap);
  }

  get size(): number {
    return this.index.size;
  }

  rowOf(key: string): number {
    return this.index.get(key) ?? -1;
  }

  has(key: string): boolean {
    return this.index.get(key) !== undefined;
  }

  get(key: string): Mutex | undefined {
    const r = this.index.get(key);
    return r === undefined ? undefined : this.mutex(r);
  }

  /** The mutex in row r, as a new object. */
  mutex(r: number): Mutex {
    const key = this.keys[r]!;
    const election = this.kind[r] === 1;
    const rest = this.rest[r];
    const m: { -readonly [K in keyof Mutex]: Mutex[K] } = {
      kind: election ? 'election' : 'lock',
      name: election ? key.slice(1) : key,
      holder: this.hasHolder[r] === 1 ? this.holder(r) : null,
      queue: rest?.queue ?? NO_WAITERS,
    };
    if (rest?.others) m.others = rest.others;
    if (rest?.limit !== undefined) m.limit = rest.limit;
    if (rest?.delayed_until !== undefined) m.delayed_until = rest.delayed_until;
    return m;
  }

  /**
   * Writes m into the key's row (r: rowOf(key), if the caller has it; a new row for a new key),
   * stamped with a snapshot epoch.
   */
  put(key: string, m: Mutex, epoch: number, r = this.rowOf(key)): void {
    this.write(r >= 0 ? r : this.newRow(key), m, epoch);
  }

  /** Adds a mutex under a new key (a restore's); false when the key is there already. */
  add(key: string, m: Mutex, epoch: number): boolean {
    if (this.index.get(key) !== undefined) return false;
    this.write(this.newRow(key), m, epoch);
    return true;
  }

  private newRow(key: string): number {
    if (this.top === this.cap && this.free.length === 0) this.resize(this.cap * 2);
    const r = this.free.pop() ?? this.top++;
    this.index.insert(key, r);
    this.keys[r] = key;
    return r;
  }

  private write(r: number, m: Mutex, epoch: number): void {
    this.kind[r] = m.kind === 'election' ? 1 : 0;
    this.snaps[r] = epoch;
    const h = m.holder;
    this.hasHolder[r] = h ? 1 : 0;
    if (h) {
      const hex = hexWords(h.lease_id, this.hLease, r * 2);
      this.hLeaseOther[r] = hex ? undefined : h.lease_id;
      this.hOwner[r] = h.owner;
      this.hValue[r] = h.value;
      this.hToken[r] = h.token;
      this.hShared[r] = h.shared ? 1 : 0;
      this.hDelay[r] = h.delay_ms ?? 0;
    } else {
      this.hLeaseOther[r] = undefined;
      this.hOwner[r] = '';
      this.hValue[r] = '';
    }
    const plain =
      m.others === undefined &&
      m.queue.length === 0 &&
      m.limit === undefined &&
      m.delayed_until === undefined;
    this.rest[r] = plain ? undefined : restOf(m);
  }

  delete(key: string): void {
    const r = this.index.get(key);
    if (r === undefined) return;
    this.index.delete(key);
    this.keys[r] = '';
    this.kind[r] = 255;
    this.hLeaseOther[r] = undefined;
    this.hOwner[r] = '';
    this.hValue[r] = '';
    this.rest[r] = undefined;
    this.free.push(r);
  }

  snapOf(r: number): number {
    return this.snaps[r]!;
  }

  setSnap(r: number, epoch: number): void {
    this.snaps[r] = epoch;
  }

  /** Rows in use, in row order. */
  *rows(): Generator<number> {
    for (let r = 0; r < this.top; r++) if (this.kind[r] !== 255) yield r;
  }

  *values(): Generator<Mutex> {
    for (const r of this.rows()) yield this.mutex(r);
  }

  private holder(r: number): Holder {
    const h: { -readonly [K in keyof Holder]: Holder[K] } = {
      lease_id: this.hLeaseOther[r] ?? hexId(this.hLease, r * 2),
      owner: this.hOwner[r]!,
      value: this.hValue[r]!,
      token: this.hToken[r]!,
    };
    if (this.hShared[r] === 1) h.shared = true;
    if (this.hDelay[r] !== 0) h.delay_ms = this.hDelay[r];
    return h;
  }

  private resize(cap: number): void {
    const old = this.kind.length;
    this.kind = grown(this.kind, cap);
    this.kind.fill(255, old);
    this.snaps = grown(this.snaps, cap);
    this.hasHolder = grown(this.hasHolder, cap);
    this.hLease = grown(this.hLease, cap * 2);
    this.hToken = grown(this.hToken, cap);
    this.hShared = grown(this.hShared, cap);
    this.hDelay = grown(this.hDelay, cap);
    this.cap = cap;
  }
}

function restOf(m: Mutex): Rest {
  const r: { -readonly [K in keyof Rest]: Rest[K] } = { queue: m.queue };
  if (m.others) r.others = m.others;
  if (m.limit !== undefined) r.limit = m.limit;
  if (m.delayed_until !== undefined) r.delayed_until = m.delayed_until;
  return r;
}
