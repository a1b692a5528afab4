import { ExpiryQueue } from './expiry-queue.js';
import { hexId, hexWords } from './hex-ids.js';
import { grown, KeyedRows } from './keyed-rows.js';
import { keysAdd, type Keys, type Lease } from './model.js';

/**
 * The leases, a row each in typed arrays (keyed-rows.ts says why), with their expiry queue.
 *
 * A lease id our leaders make is 16 hex digits: its row keeps it as two words, and the id string
 * is made again when asked for. Any other id (tests, hand-made entries) is kept as given, in a
 * small side map, under a key of its own kind (third word 1) that no hex id has.
 *
 * Callers read and write leases as `Lease` objects made on demand: short-lived, so they die
 * young instead of living in the old generation the full collections trace.
 */
export class LeaseTable extends KeyedRows {
  private ttl = new Float64Array(1024);
  private exp = new Float64Array(1024);
  /** The snapshot epoch of the row (lock-state.ts). */
  private snaps = new Int32Array(1024);
  // References: a lease's keys are its mutexes' own key strings, the rest are shared ('' and
  // interned identities), so these hold no string of their own for the common lease.
  private holds: Keys[] = [];
  private waits: Keys[] = [];
  private createdFor: string[] = [];
  private principal: (string | undefined)[] = [];
  private readonly oddRow = new Map<string, number>();
  private readonly oddId = new Map<number, string>();
  private oddSeq = 0;
  private readonly scratch = new Uint32Array(3);
  private readonly queue = new ExpiryQueue((a, b) => this.before(a, b));

  constructor() {
    super(3);
    this.resize(this.cap);
  }

  /** The row of a lease id, or -1. */
  rowOf(id: string): number {
    if (this.hexKey(id)) return this.find(this.scratch);
    return this.oddRow.get(id) ?? -1;
  }

  has(id: string): boolean {
    return this.rowOf(id) >= 0;
  }

  get(id: string): Lease | undefined {
    const r = this.rowOf(id);
    return r < 0 ? undefined : this.lease(r);
  }

  /** The lease in row r, as a new object. */
  lease(r: number): Lease {
    const principal = this.principal[r];
    const l = {
      id: this.idOf(r),
      ttl_ms: this.ttl[r]!,
      expires_at: this.exp[r]!,
      holds: this.holds[r]!,
      waits: this.waits[r]!,
      created_for: this.createdFor[r]!,
    };
    return principal === undefined ? l : { ...l, principal };
  }

  idOf(r: number): string {
    const k = this.keys;
    return k[r * 3 + 2] === 0 ? hexId(k, r * 3) : this.oddId.get(r)!;
  }

  /**
   * Writes the lease into its row (r: rowOf(l.id), if the caller has it; a new row for a new
   * id), stamped with a snapshot epoch.
   */
  put(l: Lease, epoch: number, r = this.rowOf(l.id)): void {
    if (r >= 0) {
      this.write(r, l, epoch);
      this.queue.moved(r);
    } else {
      r = this.newRow(l.id);
      this.write(r, l, epoch);
      this.queue.add(r);
    }
  }

  /** r: rowOf(id), if the caller has it. */
  delete(id: string, r = this.rowOf(id)): void {
    if (r < 0) return;
    this.queue.delete(r);
    this.holds[r] = null;
    this.waits[r] = null;
    this.createdFor[r] = '';
    this.principal[r] = undefined;
    if (this.keys[r * 3 + 2] !== 0) {
      this.oddRow.delete(this.oddId.get(r)!);
      this.oddId.delete(r);
    }
    this.remove(r);
  }

  /** Adds a mutex key to a lease's holds or waits in place: a restore, before any snapshot. */
  addKey(id: string, which: 'holds' | 'waits', key: string): void {
    const r = this.rowOf(id);
    if (r >= 0) this[which][r] = keysAdd(this[which][r]!, key);
  }

  snapOf(r: number): number {
    return this.snaps[r]!;
  }

  setSnap(r: number, epoch: number): void {
    this.snaps[r] = epoch;
  }

  *values(): Generator<Lease> {
    for (const r of this.rows()) yield this.lease(r);
  }

  /** The earliest expiry, or undefined when there are no leases. */
  peekExpiry(): number | undefined {
    const r = this.queue.peek();
    return r < 0 ? undefined : this.exp[r];
  }

  /** The lease expiring first, if it expires at or before `clock`; it stays. */
  due(clock: number): Lease | undefined {
    const r = this.queue.peek();
    return r >= 0 && this.exp[r]! <= clock ? this.lease(r) : undefined;
  }

  /** A restore's leases, unstamped (no snapshot walks a state being restored). Returns a lease id found twice, if any. */
  load(leases: Iterable<Lease>): string | undefined {
    for (const l of leases) {
      if (this.rowOf(l.id) >= 0) return l.id;
      const r = this.newRow(l.id);
      this.write(r, l, 0);
      this.queue.add(r);
    }
    return undefined;
  }

  protected resize(cap: number): void {
    this.ttl = grown(this.ttl, cap);
    this.exp = grown(this.exp, cap);
    this.snaps = grown(this.snaps, cap);
    this.queue.resize(cap);
  }

  private write(r: number, l: Lease, epoch: number): void {
    this.ttl[r] = l.ttl_ms;
    this.exp[r] = l.expires_at;
    this.snaps[r] = epoch;
    this.holds[r] = l.holds;
    this.waits[r] = l.waits;
    this.createdFor[r] = l.created_for;
    this.principal[r] = l.principal || undefined;
  }

  private newRow(id: string): number {
    if (this.hexKey(id)) return this.insert(this.scratch);
    const s = this.scratch;
    s[0] = 0;
    s[1] = ++this.oddSeq;
    s[2] = 1;
    const r = this.insert(s);
    this.oddRow.set(id, r);
    this.oddId.set(r, id);
    return r;
  }

  /** Whether id is a hex id; if so, its key is in scratch. */
  private hexKey(id: string): boolean {
    this.scratch[2] = 0;
    return hexWords(id, this.scratch);
  }

  /** (expiry, id): the order expiries are taken in, alike on every replica. */
  private before(a: number, b: number): boolean {
    const x = this.exp[a]!;
    const y = this.exp[b]!;
    if (x !== y) return x < y;
    const k = this.keys;
    if (k[a * 3 + 2] === 0 && k[b * 3 + 2] === 0) {
      // Hex ids of one length order as their numbers do.
      const ha = k[a * 3]!;
      const hb = k[b * 3]!;
      return ha !== hb ? ha < hb : k[a * 3 + 1]! < k[b * 3 + 1]!;
    }
    return this.idOf(a) < this.idOf(b);
  }
}
