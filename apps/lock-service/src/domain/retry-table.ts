import type { ApplyResult } from './commands.js';
import { hexId, hexWords } from './hex-ids.js';
import { grown, KeyedRows } from './keyed-rows.js';

/** Retried requests are recognised for at least this long, measured on the lease clock. */
export const DEDUP_WINDOW_MS = 90_000;
/** Records kept at most; beyond it the oldest go first, whatever their age. */
export const MAX_DEDUP = 1_000_000;

/** A retry-table record: what a request was answered. Keyed by a hash of the request id. */
export interface RetryRecord {
  /** requestKey(request id): 16 characters, each one byte. */
  readonly key: string;
  /** Lease-clock time it was recorded. */
  readonly t: number;
  /** Order of recording: the age order, kept across snapshots. */
  readonly seq: number;
  readonly r: ApplyResult;
}

/**
 * request key -> the answer it got, so that a retry gets the same one; a row each in typed
 * arrays (keyed-rows.ts says why), in a list by age: recording a key again moves it to the end.
 *
 * The common answer, a grant of a lease with a hex id, is kept in columns; any other answer is
 * kept as its object (a refusal is small and rarer than a grant).
 */
export class RetryTable extends KeyedRows {
  private t = new Float64Array(1024);
  private seqs = new Float64Array(1024);
  private snaps = new Int32Array(1024);
  private prev = new Int32Array(1024);
  private next = new Int32Array(1024);
  /** A grant: its lease id's two words, its token and TTL. */
  private lease = new Uint32Array(2048);
  private token = new Float64Array(1024);
  private ttl = new Float64Array(1024);
  /** Any other answer; undefined for a grant kept in columns. */
  private other: (ApplyResult | undefined)[] = [];
  private head = -1;
  private tail = -1;
  private readonly scratch = new Uint32Array(4);

  constructor() {
    super(4);
    this.resize(this.cap);
  }

  rowOf(key: string): number {
    return this.find(keyWords(key, this.scratch));
  }

  has(key: string): boolean {
    return this.rowOf(key) >= 0;
  }

  get(key: string): ApplyResult | undefined {
    const r = this.rowOf(key);
    return r < 0 ? undefined : this.result(r);
  }

  /** The oldest record's time, or undefined when there is none. */
  oldestTime(): number | undefined {
    return this.head < 0 ? undefined : this.t[this.head];
  }

  oldestKey(): string | undefined {
    return this.head < 0 ? undefined : this.keyOf(this.head);
  }

  /**
   * Records an answer at the end of the age order (moving a key recorded before); r: rowOf(key),
   * if the caller has it.
   */
  put(rec: RetryRecord, epoch: number, r = this.rowOf(rec.key)): void {
    if (r >= 0) this.unlink(r);
    else r = this.insert(keyWords(rec.key, this.scratch));
    this.write(r, rec, epoch);
    this.link(r);
  }

  private write(r: number, rec: RetryRecord, epoch: number): void {
    this.t[r] = rec.t;
    this.seqs[r] = rec.seq;
    this.snaps[r] = epoch;
    const res = rec.r;
    if (res.status === 'granted' && hexWords(res.lease_id, this.lease, r * 2)) {
      this.token[r] = res.token;
      this.ttl[r] = res.ttl_ms;
      this.other[r] = undefined;
    } else {
      this.other[r] = res;
    }
  }

  /**
   * A restore's record, not yet in the age order (a snapshot holds them in row order): then
   * linkBySeq. False when its key is there already.
   */
  load(rec: RetryRecord): boolean {
    if (this.rowOf(rec.key) >= 0) return false;
    const r = this.insert(this.scratch);
    this.write(r, rec, 0);
    return true;
  }

  /** Puts every record in the age order of their seq (records loaded in any order). */
  linkBySeq(): void {
    const rows = Int32Array.from(this.rows());
    const seqs = this.seqs;
    rows.sort((a, b) => seqs[a]! - seqs[b]!);
    this.head = this.tail = -1;
    for (const r of rows) this.link(r);
  }

  /** r: rowOf(key), if the caller has it. */
  delete(key: string, r = this.rowOf(key)): void {
    if (r < 0) return;
    this.unlink(r);
    this.other[r] = undefined;
    this.remove(r);
  }

  /** The record in row r, as a new object. */
  record(r: number): RetryRecord {
    return { key: this.keyOf(r), t: this.t[r]!, seq: this.seqs[r]!, r: this.result(r) };
  }

  snapOf(r: number): number {
    return this.snaps[r]!;
  }

  setSnap(r: number, epoch: number): void {
    this.snaps[r] = epoch;
  }

  protected resize(cap: number): void {
    this.t = grown(this.t, cap);
    this.seqs = grown(this.seqs, cap);
    this.snaps = grown(this.snaps, cap);
    this.prev = grown(this.prev, cap);
    this.next = grown(this.next, cap);
    this.lease = grown(this.lease, cap * 2);
    this.token = grown(this.token, cap);
    this.ttl = grown(this.ttl, cap);
  }

  private result(r: number): ApplyResult {
    const o = this.other[r];
    if (o !== undefined) return o;
    return {
      status: 'granted',
      lease_id: hexId(this.lease, r * 2),
      token: this.token[r]!,
      ttl_ms: this.ttl[r]!,
    };
  }

  private keyOf(r: number): string {
    const k = this.keys;
    let s = '';
    for (let i = 0; i < 4; i++) {
      const w = k[r * 4 + i]!;
      s += String.fromCharCode(w & 255, (w >>> 8) & 255, (w >>> 16) & 255, w >>> 24);
    }
    return s;
  }

  private link(r: number): void {
    this.prev[r] = this.tail;
    this.next[r] = -1;
    if (this.tail >= 0) this.next[this.tail] = r;
    else this.head = r;
    this.tail = r;
  }

  private unlink(r: number): void {
    const p = this.prev[r]!;
    const n = this.next[r]!;
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
  }
}

/** A request key's 16 one-byte characters as four words; throws on any other string. */
function keyWords(key: string, out: Uint32Array): Uint32Array {
  if (key.length !== 16) throw new Error(`retry table: a key of ${key.length} characters`);
  for (let i = 0; i < 4; i++) {
    let w = 0;
    for (let j = 3; j >= 0; j--) {
      const c = key.charCodeAt(i * 4 + j);
      if (c > 255) throw new Error('retry table: a key that is not bytes');
      w = (w << 8) | c;
    }
    out[i] = w >>> 0;
  }
  return out;
}
