import {
  chunksOf,
  type Entry,
  EntryType,
  readAll,
  type SnapshotMeta,
  type StateMachine,
} from '../../../../libs/raft/src/index.js';
import { LockEventType } from './api.js';
import {
  type AcquireCmd,
  type ApplyResult,
  type CancelWaitCmd,
  type Command,
  decodeCommand,
  type MutexKind,
  type ProclaimCmd,
  type ReleaseCmd,
  type RenewCmd,
} from './commands.js';
import { ExpiryQueue } from './expiry-queue.js';
import { type Lease, type Mutex, mutexKey, type Waiter } from './model.js';
import { type SmEvent } from './events.js';
import { RetryTable } from './retry-table.js';
import type { LockStateView } from './state-view.js';

export { DEDUP_WINDOW_MS } from './retry-table.js';

/**
 * Leases expired by one entry at most: a mass expiry is spread over a few entries (the leader
 * proposes ticks while leases are due) instead of stalling every replica in one apply.
 */
export const MAX_EXPIRIES_PER_ENTRY = 1000;

/** Whole milliseconds of a span, rounded down, past float error (a full TTL stays whole). */
export function wholeMs(span: number): number {
  return Math.max(0, Math.floor(span + 1e-6));
}

/** Snapshot format; version 1 (no `version` field) carried remaining TTLs instead of expiries. */
const SNAPSHOT_VERSION = 2;

/**
 * The replicated lock state: leases, locks and elections (both "mutexes" with a FIFO queue),
 * and the retry table. Deterministic: time enters only through the lease-clock stamps of
 * commands, and a lease expires when the first entry stamped at or after its expiry applies.
 * The fencing token of a grant is the index of the entry whose application granted it.
 */
export class LockStateMachine implements StateMachine<ApplyResult>, LockStateView {
  leases = new Map<string, Lease>();
  mutexes = new Map<string, Mutex>();
  members = new Map<string, string>();
  /** The lease clock: the latest stamp applied (ms). */
  clock = 0;
  private retries = new RetryTable();
  /** request_id -> key of the mutex it waits on. */
  private waiting = new Map<string, string>();
  private expiries = new ExpiryQueue();

  /** emit: where applied changes go, in order (the node's event bus). */
  constructor(private readonly emit: (e: SmEvent) => void = () => undefined) {}

  apply(entry: Entry): ApplyResult {
    if (entry.type === EntryType.Noop) {
      this.emit({ type: 'leader_term', term: entry.term });
      return { status: 'ignored' };
    }
    let c: Command;
    try {
      c = decodeCommand(entry.data);
    } catch {
      return { status: 'ignored' }; // never produced by our leaders; never fatal either
    }
    if (typeof c.t === 'number' && c.t > this.clock) this.clock = c.t;
    this.emit({ type: 'stamp', clock: this.clock, term: entry.term, index: entry.index });
    this.retries.purge(this.clock);
    this.expireDue(entry.index);
    switch (c.op) {
      case 'acquire':
        return this.acquire(c, entry.index);
      case 'cancel_wait':
        return this.cancelWait(c);
      case 'renew':
        return this.renew(c);
      case 'release':
        return this.release(c, entry.index);
      case 'proclaim':
        return this.proclaim(c);
      case 'member':
        this.members.set(c.id, c.client_address);
        this.emit({ type: 'member', id: c.id, client_address: c.client_address });
        return { status: 'ok' };
      case 'tick':
        return { status: 'ok' };
      default:
        return { status: 'ignored' };
    }
  }

  // ---- queries (local state; callers make them linearizable with a read barrier) ---------------

  mutex(kind: MutexKind, name: string): Mutex | undefined {
    return this.mutexes.get(mutexKey(kind, name));
  }

  allMutexes(): Iterable<Mutex> {
    return this.mutexes.values();
  }

  get leaseCount(): number {
    return this.leases.size;
  }

  memberAddress(id: string): string | undefined {
    return this.members.get(id);
  }

  waitingOn(requestId: string): string | undefined {
    return this.waiting.get(requestId);
  }

  recorded(requestId: string): ApplyResult | undefined {
    return this.retries.get(requestId);
  }

  /** The earliest lease expiry on the lease clock, or undefined without leases. */
  nextExpiry(): number | undefined {
    return this.expiries.peek();
  }

  /**
   * The lease if it has not reached its expiry by the lease clock. A lease past its expiry may
   * still be in the map when a mass expiry is spread over several entries; it is dead all the
   * same: it is never granted, renewed or used.
   */
  live(leaseId: string): Lease | undefined {
    const l = this.leases.get(leaseId);
    return l && l.expires_at > this.clock ? l : undefined;
  }

  // ---- lease clock ---------------------------------------------------------------------------

  private expireDue(index: number): void {
    for (let n = 0; n < MAX_EXPIRIES_PER_ENTRY; n++) {
      const id = this.expiries.popDue(this.clock);
      if (id === undefined) return;
      const lease = this.leases.get(id);
      if (lease) this.dropLease(lease, index, true);
    }
  }

  private renew(c: RenewCmd): ApplyResult {
    const missing: string[] = [];
    for (const id of c.lease_ids) {
      const lease = this.live(id);
      if (lease) this.extend(lease);
      else missing.push(id);
    }
    return { status: 'ok', missing };
  }

  /** A full TTL from this entry's stamp, which the leader took after the request arrived. */
  private extend(lease: Lease): void {
    lease.seq++;
    lease.expires_at = this.clock + lease.ttl_ms;
    this.expiries.set(lease.id, lease.expires_at);
    this.emit({ type: 'lease', lease_id: lease.id, expires_at: lease.expires_at });
  }

  /** Whole ms the lease has left at the current stamp (stamps are fractional ms). */
  private remaining(lease: Lease): number {
    return wholeMs(lease.expires_at - this.clock);
  }

  // ---- commands ------------------------------------------------------------------------------

  private acquire(c: AcquireCmd, index: number): ApplyResult {
    if (c.request_id) {
      const seen = this.retries.get(c.request_id);
      if (seen) return this.replay(c, seen);
      const key = this.waiting.get(c.request_id);
      if (key) {
        const w = this.mutexes.get(key)?.queue.find((x) => x.request_id === c.request_id);
        const lease = w && this.live(w.lease_id);
        if (lease) return { status: 'queued', lease_id: lease.id, ttl_ms: lease.ttl_ms };
      }
    }
    const r = this.acquireOnce(c, index);
    if (c.request_id && r.status !== 'queued') this.retries.record(c.request_id, r, this.clock);
    return r;
  }

  /**
   * A retry of a request that was answered: the same grant while its lease still holds it. The
   * retry may come long after the grant; its caller is alive now, so the grant's lease is
   * renewed and the answer's TTL counts from this entry, as the first answer's did.
   */
  private replay(c: AcquireCmd, seen: ApplyResult): ApplyResult {
    if (seen.status !== 'granted') return seen;
    const lease = this.live(seen.lease_id);
    if (!lease) return { status: 'lease_not_found' };
    const h = this.mutex(c.kind, c.name)?.holder;
    if (h?.lease_id !== lease.id || h.token !== seen.token)
      return { status: 'held', holder: h?.owner ?? '' };
    this.extend(lease);
    return { ...seen, ttl_ms: lease.ttl_ms };
  }

  private acquireOnce(c: AcquireCmd, index: number): ApplyResult {
    let lease = c.lease_id ? this.live(c.lease_id) : undefined;
    if (c.lease_id && !lease) return { status: 'lease_not_found' };
    const key = mutexKey(c.kind, c.name);
    const m = this.mutexes.get(key);
    if (lease && m?.holder?.lease_id === lease.id) {
      this.extend(lease); // its caller is alive: this call is a renewal, as a granting one is
      return { status: 'granted', lease_id: lease.id, token: m.holder.token, ttl_ms: lease.ttl_ms };
    }
    if (lease && m?.queue.some((w) => w.lease_id === lease!.id)) {
      return { status: 'queued', lease_id: lease.id, ttl_ms: lease.ttl_ms };
    }
    if (m?.holder && !c.wait) return { status: 'held', holder: m.holder.owner };
    if (m?.holder && m.queue.length >= c.max_waiters)
      return { status: 'exhausted', what: `too many waiters on ${c.name}` };
    if (!lease) {
      if (this.leases.size >= c.max_leases) return { status: 'exhausted', what: 'too many leases' };
      lease = {
        id: c.new_lease_id,
        ttl_ms: c.ttl_ms,
        seq: 0,
        expires_at: this.clock + c.ttl_ms,
        holds: new Set(),
        waits: new Set(),
        created_for: c.wait && c.request_id ? c.request_id : undefined,
      };
      this.leases.set(lease.id, lease);
      this.expiries.set(lease.id, lease.expires_at);
      this.emit({ type: 'lease', lease_id: lease.id, expires_at: lease.expires_at });
    }
    const mutex = m ?? { kind: c.kind, name: c.name, holder: null, queue: [] };
    if (!m) this.mutexes.set(key, mutex);
    const waiter: Waiter = {
      lease_id: lease.id,
      owner: c.owner,
      value: c.value,
      request_id: c.request_id,
    };
    if (mutex.holder) {
      mutex.queue.push(waiter);
      lease.waits.add(key);
      if (c.request_id) this.waiting.set(c.request_id, key);
      return { status: 'queued', lease_id: lease.id, ttl_ms: lease.ttl_ms };
    }
    // Granted to a live call: a lease it brought is renewed by it (a new one starts now).
    if (c.lease_id) this.extend(lease);
    this.grant(mutex, waiter, lease, index);
    return { status: 'granted', lease_id: lease.id, token: index, ttl_ms: lease.ttl_ms };
  }

  private grant(m: Mutex, w: Waiter, lease: Lease, index: number): void {
    m.holder = {
      lease_id: lease.id,
      owner: w.owner,
      value: w.value,
      token: index,
      request_id: w.request_id,
    };
    lease.holds.add(mutexKey(m.kind, m.name));
    if (m.kind === 'lock') {
      this.emit({
        type: 'lock',
        name: m.name,
        event: LockEventType.ACQUIRED,
        owner: w.owner,
        token: index,
        lease_id: lease.id,
      });
    } else {
      this.emit({
        type: 'election',
        name: m.name,
        leader: { candidate: w.owner, value: w.value, token: index, lease_id: lease.id },
      });
    }
  }

  /** The holder of m is gone: hand m to the next waiter whose lease is live, in FIFO order. */
  private vacate(m: Mutex, index: number, event: LockEventType): void {
    const prev = m.holder!;
    m.holder = null;
    const key = mutexKey(m.kind, m.name);
    this.leases.get(prev.lease_id)?.holds.delete(key);
    if (m.kind === 'lock')
      this.emit({
        type: 'lock',
        name: m.name,
        event,
        owner: prev.owner,
        token: prev.token,
        lease_id: prev.lease_id,
      });
    for (let next = m.queue[0]; next; next = m.queue[0]) {
      const lease = this.live(next.lease_id);
      if (!lease) {
        // Past its expiry but not yet dropped (a mass expiry spread over entries): never granted.
        this.loseWaiter(m, next.lease_id);
        continue;
      }
      m.queue.shift();
      lease.waits.delete(key);
      // The lease made for this very wait was kept alive by the leader for the call; the grant
      // renews it, so that the caller counts a full TTL from a moment after it asked. A lease
      // the caller brought is its own to renew: the answer says what it has left.
      if (lease.created_for === next.request_id) this.extend(lease);
      this.grant(m, next, lease, index);
      const ttl = this.remaining(lease);
      if (next.request_id) {
        this.waiting.delete(next.request_id);
        const r: ApplyResult = { status: 'granted', lease_id: lease.id, token: index, ttl_ms: ttl };
        this.retries.record(next.request_id, r, this.clock);
      }
      this.emit({
        type: 'waiter_done',
        request_id: next.request_id,
        lease_id: lease.id,
        granted: true,
        token: index,
        ttl_ms: ttl,
      });
      return;
    }
    if (m.kind === 'election') this.emit({ type: 'election', name: m.name, leader: null });
    this.mutexes.delete(key);
  }

  private removeWaiter(m: Mutex, leaseId: string): Waiter | undefined {
    const i = m.queue.findIndex((w) => w.lease_id === leaseId);
    if (i < 0) return undefined;
    const [w] = m.queue.splice(i, 1);
    this.leases.get(leaseId)?.waits.delete(mutexKey(m.kind, m.name));
    if (w!.request_id) this.waiting.delete(w!.request_id);
    return w;
  }

  /** A waiter whose lease is gone leaves the queue, and its call is told (NOT_FOUND). */
  private loseWaiter(m: Mutex, leaseId: string): void {
    const w = this.removeWaiter(m, leaseId);
    if (!w?.request_id) return;
    this.retries.record(w.request_id, { status: 'lease_not_found' }, this.clock);
    this.emit({
      type: 'waiter_done',
      request_id: w.request_id,
      lease_id: leaseId,
      granted: false,
      lost: true,
    });
  }

  private cancelWait(c: CancelWaitCmd): ApplyResult {
    const key = mutexKey(c.kind, c.name);
    const m = this.mutexes.get(key);
    const w = m?.queue.find((x) => x.request_id === c.request_id);
    if (!m || !w) return this.retries.get(c.request_id) ?? { status: 'ignored' };
    this.removeWaiter(m, w.lease_id);
    const r: ApplyResult = { status: 'held', holder: m.holder?.owner ?? '' };
    this.retries.record(c.request_id, r, this.clock);
    const lease = this.leases.get(w.lease_id);
    // A lease made just for this wait and holding nothing else would only linger until expiry.
    if (
      lease &&
      lease.holds.size === 0 &&
      lease.waits.size === 0 &&
      lease.created_for === c.request_id
    ) {
      this.dropLease(lease, 0, false);
    }
    this.emit({
      type: 'waiter_done',
      request_id: c.request_id,
      lease_id: w.lease_id,
      granted: false,
      holder: r.holder,
    });
    return r;
  }

  private release(c: ReleaseCmd, index: number): ApplyResult {
    const lease = this.leases.get(c.lease_id);
    if (!lease) return { status: 'ok', released: false };
    if (c.name === '') {
      this.dropLease(lease, index, false);
      return { status: 'ok', released: true };
    }
    const m = this.mutexes.get(mutexKey(c.kind, c.name));
    if (m?.holder?.lease_id === lease.id) {
      this.vacate(m, index, LockEventType.RELEASED);
      return { status: 'ok', released: true };
    }
    const w = c.kind === 'election' && m ? this.removeWaiter(m, lease.id) : undefined;
    if (w) {
      // A candidate resigning from the queue: its own Campaign call may still be waiting. End it
      // now as not elected, as a cancelled wait is, and answer a retry of it the same way.
      if (w.request_id) {
        const r: ApplyResult = { status: 'held', holder: m!.holder?.owner ?? '' };
        this.retries.record(w.request_id, r, this.clock);
        this.emit({
          type: 'waiter_done',
          request_id: w.request_id,
          lease_id: lease.id,
          granted: false,
          holder: r.holder,
        });
      }
      return { status: 'ok', released: true };
    }
    return { status: 'ok', released: false };
  }

  private dropLease(lease: Lease, index: number, expired: boolean): void {
    const holds = [...lease.holds];
    this.expiries.delete(lease.id);
    for (const key of [...lease.waits]) this.loseWaiter(this.mutexes.get(key)!, lease.id);
    for (const key of holds)
      this.vacate(
        this.mutexes.get(key)!,
        index,
        expired ? LockEventType.EXPIRED : LockEventType.RELEASED,
      );
    this.leases.delete(lease.id);
    this.emit({ type: 'lease_gone', lease_id: lease.id, expired, holds });
  }

  private proclaim(c: ProclaimCmd): ApplyResult {
    const m = this.mutexes.get(mutexKey('election', c.name));
    if (!m?.holder || m.holder.lease_id !== c.lease_id) return { status: 'not_holder' };
    m.holder.value = c.value;
    this.emit({
      type: 'election',
      name: c.name,
      leader: {
        candidate: m.holder.owner,
        value: c.value,
        token: m.holder.token,
        lease_id: m.holder.lease_id,
      },
    });
    return { status: 'ok' };
  }

  // ---- snapshots -----------------------------------------------------------------------------

  // Stopgap on the streamed port: the whole state as one JSON document made at once (so a
  // point-in-time copy), handed out in chunks; restore reads it whole.
  snapshot(): Iterable<Uint8Array> {
    return chunksOf(this.snapshotJson());
  }

  async restore(chunks: AsyncIterable<Uint8Array>, meta: SnapshotMeta): Promise<void> {
    this.restoreJson(await readAll(chunks), meta);
  }

  private snapshotJson(): Uint8Array {
    return Buffer.from(
      JSON.stringify({
        version: SNAPSHOT_VERSION,
        leases: [...this.leases.values()].map((l) => ({
          ...l,
          holds: [...l.holds],
          waits: [...l.waits],
        })),
        mutexes: [...this.mutexes.values()],
        dedup: this.retries.entries(),
        members: [...this.members],
        clock: this.clock,
      }),
    );
  }

  private restoreJson(data: Uint8Array, _meta: SnapshotMeta): void {
    const s = JSON.parse(Buffer.from(data).toString()) as {
      version?: number;
      leases: (Omit<Lease, 'holds' | 'waits' | 'expires_at'> & {
        holds: string[];
        waits: string[];
        expires_at?: number;
      })[];
      mutexes: Mutex[];
      dedup: ReturnType<RetryTable['entries']>;
      members: [string, string][];
      clock: number;
    };
    this.clock = s.clock;
    this.expiries.clear();
    this.leases = new Map();
    for (const l of s.leases) {
      // Version 1 knew no expiry: a full TTL from the snapshot's clock is never early.
      const lease: Lease = {
        id: l.id,
        ttl_ms: l.ttl_ms,
        seq: l.seq,
        expires_at: l.expires_at ?? s.clock + l.ttl_ms,
        holds: new Set(l.holds),
        waits: new Set(l.waits),
        created_for: l.created_for,
      };
      this.leases.set(lease.id, lease);
      this.expiries.set(lease.id, lease.expires_at);
    }
    this.mutexes = new Map(s.mutexes.map((m) => [mutexKey(m.kind, m.name), m]));
    this.retries = RetryTable.from(s.dedup);
    this.waiting = new Map();
    for (const [key, m] of this.mutexes)
      for (const w of m.queue) if (w.request_id) this.waiting.set(w.request_id, key);
    this.members = new Map(s.members);
    this.emit({ type: 'restored' });
  }
}
