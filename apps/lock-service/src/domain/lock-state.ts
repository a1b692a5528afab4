import { LeaseTable } from './lease-table.js';
import { DelayQueue, newestHolder } from './lock-kinds.js';
import type { Lease, Mutex } from './model.js';
import { MutexTable } from './mutex-table.js';
import { type RetryRecord, RetryTable } from './retry-table.js';

/**
 * The replicated state's tables, and the copy-on-write view a snapshot reads.
 *
 * Records are replaced, never changed, through set/delete below. A snapshot begun at epoch E
 * walks the live records; each record it writes is marked E, and every record made while it
 * runs is born marked E, so the walk skips it. A record replaced or deleted before the walk
 * reached it (not marked E) is kept aside and written at the end of its section. So the
 * snapshot holds exactly the records as they were when it began, while entries keep applying.
 * Each table (typed arrays, keyed-rows.ts says why) marks a row's epoch in a column.
 */
export class LockState {
  readonly leases = new LeaseTable();
  readonly mutexes = new MutexTable();
  /** In age order: recording a request again moves it to the end. */
  readonly retries = new RetryTable();
  /** Hash of a waiting request's id -> key of the mutex it waits on (derived from the queues). */
  readonly waiting = new Map<string, string>();
  readonly members = new Map<string, string>();
  /** Lock-delays by their end (derived from the mutexes' delayed_until). */
  readonly delays = new DelayQueue();
  /** The lease clock: the latest stamp applied (ms). */
  clock = 0;
  /** Retry records recorded so far: each new one's seq. */
  retrySeq = 0;
  /** Elections among the mutexes (the rest are locks). */
  elections = 0;
  /** One string per identity or owner, shared by its records (each command decodes a copy). */
  private readonly shared = new Map<string, string>();
  /**
   * Figures for metrics, kept as mutexes change so that reading them costs nothing: a scan of a
   * million mutexes per scrape would stall the event loop for tens of milliseconds.
   */
  readonly tally = { ...EMPTY_TALLY };

  // The snapshot in progress (0: none) and the records it must still write.
  private epoch = 0;
  private lastEpoch = 0;
  private readonly kept = {
    leases: [] as Lease[],
    mutexes: [] as Mutex[],
    retries: [] as RetryRecord[],
  };

  // ---- changes ---------------------------------------------------------------------------------

  /** The shared copy of a string many records repeat: an identity, a holder's owner. */
  intern(text: string): string {
    const known = this.shared.get(text);
    if (known !== undefined) return known;
    // Identities are the auth config's users and owners mostly a client process's name, each
    // shared by many records; the bound guards against many distinct ones: sharing is an
    // economy, not a rule.
    if (this.shared.size >= MAX_INTERNED) this.shared.clear();
    this.shared.set(text, text);
    return text;
  }

  /** A table row's record is about to change: keep it for the snapshot if not yet written. */
  private retireRow<T>(
    table: { snapOf(r: number): number; setSnap(r: number, e: number): void },
    r: number,
    record: (r: number) => T,
    kept: T[],
  ): void {
    if (r >= 0 && this.epoch !== 0 && table.snapOf(r) !== this.epoch) {
      table.setSnap(r, this.epoch);
      kept.push(record(r));
    }
  }

  private readonly leaseAt = (r: number) => this.leases.lease(r);
  private readonly retryAt = (r: number) => this.retries.record(r);
  private readonly mutexAt = (r: number) => this.mutexes.mutex(r);

  setLease(next: Lease): void {
    const r = this.leases.rowOf(next.id);
    this.retireRow(this.leases, r, this.leaseAt, this.kept.leases);
    this.leases.put(next, this.epoch, r);
  }

  /**
   * A restore's leases, into the state it builds (restore.ts). Their derived fields (holds,
   * waits) are filled in place with addLeaseKey: nothing reads the state and no snapshot walks
   * it meanwhile. Returns a lease id found twice, if any.
   */
  loadLeases(leases: readonly Lease[]): string | undefined {
    return this.leases.load(leases);
  }

  addLeaseKey(id: string, which: 'holds' | 'waits', key: string): void {
    this.leases.addKey(id, which, key);
  }

  deleteLease(id: string): void {
    const r = this.leases.rowOf(id);
    this.retireRow(this.leases, r, this.leaseAt, this.kept.leases);
    this.leases.delete(id, r);
  }

  setMutex(key: string, next: Mutex): void {
    const r = this.mutexes.rowOf(key);
    const prev = r >= 0 ? this.mutexes.mutex(r) : undefined;
    this.retireRow(this.mutexes, r, this.mutexAt, this.kept.mutexes);
    if (!prev && next.kind === 'election') this.elections++;
    if (prev) this.count(prev, -1);
    this.count(next, 1);
    this.mutexes.put(key, next, this.epoch, r);
    if (next.delayed_until !== undefined && next.delayed_until !== prev?.delayed_until)
      this.delays.add(next.delayed_until, key);
  }

  /** A restore's mutex, into the state it builds; false when its key is there already. */
  loadMutex(key: string, m: Mutex): boolean {
    if (!this.mutexes.add(key, m, this.epoch)) return false;
    if (m.kind === 'election') this.elections++;
    this.count(m, 1);
    if (m.delayed_until !== undefined) this.delays.add(m.delayed_until, key);
    return true;
  }

  private count(m: Mutex, sign: 1 | -1): void {
    const t = this.tally;
    if (m.holder) {
      if (m.kind === 'lock') t.locksHeld += sign;
      else t.electionsLed += sign;
      const newest = newestHolder(m)!;
      if (sign > 0 && newest.token > t.maxToken) t.maxToken = newest.token;
    }
    if (m.kind === 'lock') t.lockWaiters += sign * m.queue.length;
    else t.electionWaiters += sign * m.queue.length;
  }

  deleteMutex(key: string): void {
    const prev = this.mutexes.get(key);
    this.retireRow(this.mutexes, this.mutexes.rowOf(key), this.mutexAt, this.kept.mutexes);
    if (prev?.kind === 'election') this.elections--;
    if (prev) this.count(prev, -1);
    this.mutexes.delete(key);
  }

  /**
   * Records (or records again, moving it to the end of the age order) a request's answer; a
   * seq of 0 takes the next one.
   */
  setRetry(next: RetryRecord): void {
    const r = this.retries.rowOf(next.key);
    this.retireRow(this.retries, r, this.retryAt, this.kept.retries);
    this.retries.put(next.seq === 0 ? { ...next, seq: ++this.retrySeq } : next, this.epoch, r);
  }

  deleteRetry(key: string): void {
    const r = this.retries.rowOf(key);
    this.retireRow(this.retries, r, this.retryAt, this.kept.retries);
    this.retries.delete(key, r);
  }

  // ---- the point-in-time view --------------------------------------------------------------------

  /**
   * Begins a snapshot: the returned walk yields every record as of now, section by section,
   * however the tables change while it is consumed. Only one at a time: a new one abandons the
   * previous walk.
   */
  beginSnapshot(): {
    clock: number;
    retrySeq: number;
    members: [string, string][];
    leases: Iterable<Lease>;
    mutexes: Iterable<Mutex>;
    retries: Iterable<RetryRecord>;
    end(): void;
  } {
    this.endSnapshot();
    const epoch = ++this.lastEpoch;
    this.epoch = epoch;
    return {
      clock: this.clock,
      retrySeq: this.retrySeq,
      members: [...this.members],
      leases: this.walkRows(this.leases, this.leaseAt, this.kept.leases, epoch),
      mutexes: this.walkRows(this.mutexes, this.mutexAt, this.kept.mutexes, epoch),
      retries: this.walkRows(this.retries, this.retryAt, this.kept.retries, epoch),
      end: () => {
        if (this.epoch === epoch) this.endSnapshot();
      },
    };
  }

  private *walkRows<T>(
    table: LeaseTable | MutexTable | RetryTable,
    record: (r: number) => T,
    kept: T[],
    epoch: number,
  ): Generator<T> {
    for (const r of table.rows()) {
      if (this.epoch !== epoch) throw new Error('snapshot abandoned: another one began');
      if (table.snapOf(r) === epoch) continue;
      table.setSnap(r, epoch);
      yield record(r);
    }
    for (let i = 0; i < kept.length; i++) yield kept[i]!;
    kept.length = 0;
  }

  private endSnapshot(): void {
    this.epoch = 0;
    this.kept.leases.length = 0;
    this.kept.mutexes.length = 0;
    this.kept.retries.length = 0;
  }
}

const MAX_INTERNED = 4096;

export type LockTally = typeof EMPTY_TALLY;

const EMPTY_TALLY = {
  locksHeld: 0,
  electionsLed: 0,
  lockWaiters: 0,
  electionWaiters: 0,
  /** The highest fencing token granted, ever (tokens are log indexes). */
  maxToken: 0,
};
