import {
  type Entry,
  EntryType,
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
import { type SmEvent } from './events.js';
import { LockState, type LockTally } from './lock-state.js';
import {
  admits,
  delayed,
  holderFor,
  holdersOf,
  holdersPatch,
  holdOf,
  limitOf,
  type MutexPatch,
  normalLimit,
  remake,
} from './lock-kinds.js';
import {
  keysAdd,
  keysCount,
  keysDelete,
  keysHas,
  keysOf,
  type Lease,
  mayUse,
  type Mutex,
  NO_WAITERS,
  requestKey,
  stateKey,
  type Waiter,
} from './model.js';
import { DEDUP_WINDOW_MS, MAX_DEDUP } from './retry-table.js';
import { restoreState } from './restore.js';
import { lease as newLease, writeSnapshot } from './snapshot-format.js';
import type { LockStateView } from './state-view.js';
import type { LeaseTable } from './lease-table.js';

/** The leases, read-only. */
export type ReadonlyLeases = Pick<LeaseTable, 'size' | 'get' | 'has' | 'values'>;

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

/**
 * The replicated lock state: leases, locks and elections (both "mutexes" with a FIFO queue),
 * and the retry table. Deterministic: time enters only through the lease-clock stamps of
 * commands, and a lease expires when the first entry stamped at or past its expiry applies.
 * The fencing token of a grant is the index of the entry whose application granted it.
 */
export class LockStateMachine implements StateMachine<ApplyResult>, LockStateView {
  private s = new LockState();

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
    const s = this.s;
    if (typeof c.t === 'number' && c.t > s.clock) s.clock = c.t;
    this.emit({ type: 'stamp', clock: s.clock, term: entry.term, index: entry.index });
    this.purgeRetries();
    this.expireDue(entry.index);
    this.endDelays(entry.index);
    switch (c.op) {
      case 'acquire':
        return this.acquire(c, entry.index);
      case 'cancel_wait':
        return this.cancelWait(c, entry.index);
      case 'renew':
        return this.renew(c);
      case 'release':
        return this.release(c, entry.index);
      case 'proclaim':
        return this.proclaim(c);
      case 'member':
        s.members.set(c.id, c.client_address);
        this.emit({ type: 'member', id: c.id, client_address: c.client_address });
        return { status: 'ok' };
      case 'tick':
        return { status: 'ok' };
      default:
        return { status: 'ignored' };
    }
  }

  // ---- queries (local state; callers make them linearizable with a read barrier) ---------------

  get clock(): number {
    return this.s.clock;
  }

  get leases(): ReadonlyLeases {
    return this.s.leases;
  }

  get leaseCount(): number {
    return this.s.leases.size;
  }

  get mutexCount(): number {
    return this.s.mutexes.size;
  }

  /** Records a snapshot writes: leases, locks and elections, retry records. */
  get recordCount(): number {
    return this.s.leases.size + this.s.mutexes.size + this.s.retries.size;
  }

  mutex(kind: MutexKind, name: string): Mutex | undefined {
    return this.s.mutexes.get(stateKey(kind, name));
  }

  allMutexes(): Iterable<Mutex> {
    return this.s.mutexes.values();
  }

  get tally(): Readonly<LockTally> {
    return this.s.tally;
  }

  memberAddress(id: string): string | undefined {
    return this.s.members.get(id);
  }

  waitingOn(requestId: string): string | undefined {
    return this.s.waiting.get(requestKey(requestId));
  }

  recorded(requestId: string): ApplyResult | undefined {
    return this.s.retries.get(requestKey(requestId));
  }

  /**
   * The earliest lease expiry or lock-delay end on the lease clock, or undefined when there is
   * neither: the leader proposes a tick once it is due.
   */
  nextExpiry(): number | undefined {
    const lease = this.s.leases.peekExpiry();
    const delay = this.s.delays.peek();
    if (delay === undefined) return lease;
    return lease === undefined ? delay : Math.min(lease, delay);
  }

  /**
   * The lease if it has not reached its expiry by the lease clock. A lease past its expiry may
   * still be in the map when a mass expiry is spread over several entries; it is dead all the
   * same: it is never granted, renewed or used.
   */
  live(leaseId: string): Lease | undefined {
    const l = this.s.leases.get(leaseId);
    return l && l.expires_at > this.s.clock ? l : undefined;
  }

  // ---- records --------------------------------------------------------------------------------

  private putLease(l: Lease, patch: Partial<Pick<Lease, 'expires_at' | 'holds' | 'waits'>>): Lease {
    const next: Lease = { ...l, ...patch };
    this.s.setLease(next);
    return next;
  }

  private putMutex(m: Mutex, patch: MutexPatch): Mutex {
    const next = remake(m, patch);
    this.s.setMutex(stateKey(m.kind, m.name), next);
    return next;
  }

  private record(requestId: string, r: ApplyResult): void {
    this.s.setRetry({ key: requestKey(requestId), t: this.s.clock, seq: 0, r });
    if (this.s.retries.size > MAX_DEDUP) this.s.deleteRetry(this.s.retries.oldestKey()!);
  }

  /** Forgets retry records older than the window at the lease clock. */
  private purgeRetries(): void {
    const oldest = this.s.clock - DEDUP_WINDOW_MS;
    for (let t = this.s.retries.oldestTime(); t !== undefined && t < oldest;) {
      this.s.deleteRetry(this.s.retries.oldestKey()!);
      t = this.s.retries.oldestTime();
    }
  }

  // ---- the lease clock --------------------------------------------------------------------------

  private expireDue(index: number): void {
    for (let n = 0; n < MAX_EXPIRIES_PER_ENTRY; n++) {
      const lease = this.s.leases.due(this.s.clock);
      if (lease === undefined) return;
      this.dropLease(lease, index, true);
    }
  }

  /**
   * Ends the lock-delays due by the clock and serves their queues (the grants' token is this
   * entry's index). Bounded per entry like expiries; the leader ticks again while more are due.
   */
  private endDelays(index: number): void {
    for (let n = 0; n < MAX_EXPIRIES_PER_ENTRY;) {
      const d = this.s.delays.takeDue(this.s.clock);
      if (d === undefined) return;
      const m = this.s.mutexes.get(d.key);
      if (m?.delayed_until !== d.until) continue; // extended since, or a stale entry
      n++;
      this.serve(this.putMutex(m, { delayed_until: undefined }), index);
    }
  }

  private renew(c: RenewCmd): ApplyResult {
    const missing: string[] = [];
    const denied: number[] = [];
    c.lease_ids.forEach((id, i) => {
      const lease = this.live(id);
      if (!lease) missing.push(id);
      else if (!mayUse(lease, c.by?.[i])) denied.push(i);
      else this.extend(lease);
    });
    return denied.length > 0 ? { status: 'ok', missing, denied } : { status: 'ok', missing };
  }

  /** A full TTL from this entry's stamp, which the leader took after the request arrived. */
  private extend(lease: Lease): Lease {
    const next = this.putLease(lease, { expires_at: this.s.clock + lease.ttl_ms });
    this.emit({ type: 'lease', lease_id: next.id, expires_at: next.expires_at });
    return next;
  }

  /** Whole ms the lease has left at the current stamp (stamps are fractional ms). */
  private remaining(lease: Lease): number {
    return wholeMs(lease.expires_at - this.s.clock);
  }

  // ---- acquire --------------------------------------------------------------------------------

  private acquire(c: AcquireCmd, index: number): ApplyResult {
    if (c.request_id) {
      const seen = this.recorded(c.request_id);
      if (seen) return this.replay(c, seen);
      const key = this.waitingOn(c.request_id);
      if (key) {
        const w = this.s.mutexes.get(key)?.queue.find((x) => x.request_id === c.request_id);
        const lease = w && this.live(w.lease_id);
        if (lease && !mayUse(lease, c.by)) return { status: 'not_owner' };
        if (lease) return { status: 'queued', lease_id: lease.id, ttl_ms: lease.ttl_ms };
      }
    }
    const r = this.acquireOnce(c, index);
    if (c.request_id && r.status !== 'queued') this.record(c.request_id, r);
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
    // The leader scopes request ids by identity; entries of older leaders did not.
    if (!mayUse(lease, c.by)) return { status: 'not_owner' };
    const m = this.mutex(c.kind, c.name);
    const h = m && holdOf(m, lease.id);
    if (h?.token !== seen.token) return { status: 'held', holder: m?.holder?.owner ?? '' };
    this.extend(lease);
    return { ...seen, ttl_ms: lease.ttl_ms };
  }

  private acquireOnce(c: AcquireCmd, index: number): ApplyResult {
    let lease = c.lease_id ? this.live(c.lease_id) : undefined;
    if (c.lease_id && !lease) return { status: 'lease_not_found' };
    if (lease && !mayUse(lease, c.by)) return { status: 'not_owner' };
    const key = stateKey(c.kind, c.name);
    const m = this.s.mutexes.get(key);
    const mine = lease && m && holdOf(m, lease.id);
    if (lease && mine) {
      this.extend(lease); // its caller is alive: this call is a renewal, as a granting one is
      return { status: 'granted', lease_id: lease.id, token: mine.token, ttl_ms: lease.ttl_ms };
    }
    if (lease && m?.queue.some((w) => w.lease_id === lease!.id)) {
      return { status: 'queued', lease_id: lease.id, ttl_ms: lease.ttl_ms };
    }
    // A name's limit is its first holder's while anyone holds or waits for it.
    const limit = normalLimit(c.limit);
    const busy = m !== undefined && (m.holder !== null || m.queue.length > 0);
    if (busy && limitOf(m) !== limit) return { status: 'limit_mismatch', limit: limitOf(m) };
    // Strict FIFO: nobody is granted past a waiter.
    const free = !m || (m.queue.length === 0 && admits(m, c, this.s.clock));
    if (!free && !c.wait) return { status: 'held', holder: m.holder?.owner ?? '' };
    if (!free && m.queue.length >= c.max_waiters)
      return { status: 'exhausted', what: `too many waiters on ${c.name}` };
    if (lease && keysCount(lease.holds) + keysCount(lease.waits) >= (c.max_per_lease ?? Infinity))
      return { status: 'exhausted', what: `too many locks on lease ${lease.id}` };
    if (!m && c.kind === 'election' && this.s.elections >= (c.max_elections ?? Infinity))
      return { status: 'exhausted', what: 'too many elections' };
    if (!lease) {
      if (this.s.leases.size >= c.max_leases)
        return { status: 'exhausted', what: 'too many leases' };
      // Leaders draw 64 random bits per id: a collision is all but impossible, and must not
      // replace a live lease if it happens.
      if (this.s.leases.has(c.new_lease_id))
        return { status: 'exhausted', what: 'lease id in use' };
      const createdFor = c.wait && c.request_id ? c.request_id : '';
      const principal = c.by?.principal ? this.s.intern(c.by.principal) : '';
      lease = newLease(c.new_lease_id, c.ttl_ms, this.s.clock + c.ttl_ms, createdFor, principal);
      this.s.setLease(lease);
      this.emit({ type: 'lease', lease_id: lease.id, expires_at: lease.expires_at });
    }
    const waiter: Waiter = {
      lease_id: lease.id,
      owner: this.s.intern(c.owner),
      value: c.value,
      request_id: c.request_id,
      ...(c.shared ? { shared: true } : {}),
      ...(c.delay_ms ? { delay_ms: c.delay_ms } : {}),
    };
    if (!free) {
      this.putMutex(m, { queue: [...m.queue, waiter], ...(busy ? {} : { limit }) });
      this.putLease(lease, { waits: keysAdd(lease.waits, key) });
      if (c.request_id) this.s.waiting.set(requestKey(c.request_id), key);
      return { status: 'queued', lease_id: lease.id, ttl_ms: lease.ttl_ms };
    }
    // Granted to a live call: a lease it brought is renewed by it (a new one starts now).
    if (c.lease_id) lease = this.extend(lease);
    const empty = { kind: c.kind, name: c.name, holder: null, queue: NO_WAITERS };
    this.grant(busy ? m : remake(m ?? empty, { limit }), waiter, lease, index);
    return { status: 'granted', lease_id: lease.id, token: index, ttl_ms: lease.ttl_ms };
  }

  /** Adds w to m's holders (the caller already took it from the queue); the new record. */
  private grant(m: Mutex, w: Waiter, lease: Lease, index: number): Mutex {
    const holder = holderFor(w, lease.id, index);
    const next = this.putMutex(
      m,
      m.holder ? { others: [...(m.others ?? []), holder] } : { holder },
    );
    this.putLease(lease, { holds: keysAdd(lease.holds, stateKey(m.kind, m.name)) });
    if (m.kind === 'lock') {
      this.emit({
        type: 'lock',
        name: m.name,
        event: LockEventType.ACQUIRED,
        owner: w.owner,
        token: index,
        lease_id: lease.id,
        ...(w.shared ? { shared: true } : {}),
      });
    } else {
      this.emit({
        type: 'election',
        name: m.name,
        leader: { candidate: w.owner, value: w.value, token: index, lease_id: lease.id },
      });
    }
    return next;
  }

  // ---- the end of a hold ------------------------------------------------------------------------

  /**
   * The lease's hold on m ends (released, or expired: then the hold's lock-delay starts); the
   * queue is served.
   */
  private vacate(m: Mutex, leaseId: string, index: number, expired: boolean): void {
    const prev = holdOf(m, leaseId)!;
    const key = stateKey(m.kind, m.name);
    const held = this.s.leases.get(leaseId);
    if (held) this.putLease(held, { holds: keysDelete(held.holds, key) });
    const patch = holdersPatch(holdersOf(m).filter((h) => h !== prev));
    if (expired && prev.delay_ms) {
      // Nobody is granted the name until the delay has passed on the lease clock.
      patch.delayed_until = Math.max(m.delayed_until ?? 0, this.s.clock + prev.delay_ms);
    }
    m = this.putMutex(m, patch);
    if (m.kind === 'lock')
      this.emit({
        type: 'lock',
        name: m.name,
        event: expired ? LockEventType.EXPIRED : LockEventType.RELEASED,
        owner: prev.owner,
        token: prev.token,
        lease_id: prev.lease_id,
        ...(prev.shared ? { shared: true } : {}),
      });
    this.serve(m, index);
  }

  /**
   * Grants m to the waiters at the head of its queue, in FIFO order, while m admits them next
   * to its holders (one for a mutex; consecutive SHARED ones together; a semaphore's up to its
   * limit); a waiter whose lease is past its expiry leaves the queue, never granted. Deletes m
   * when nothing holds, waits for or delays it.
   */
  private serve(m: Mutex, index: number): void {
    const key = stateKey(m.kind, m.name);
    for (let next = m.queue[0]; next && admits(m, next, this.s.clock); next = m.queue[0]) {
      let lease = this.live(next.lease_id);
      if (!lease) {
        // Past its expiry but not yet dropped (a mass expiry spread over entries): never granted.
        this.loseWaiter(m, next.lease_id);
        m = this.s.mutexes.get(key)!;
        continue;
      }
      m = this.putMutex(m, { queue: m.queue.length === 1 ? NO_WAITERS : m.queue.slice(1) });
      lease = this.putLease(lease, { waits: keysDelete(lease.waits, key) });
      // The lease made for this very wait was kept alive by the leader for the call; the grant
      // renews it, so that the caller counts a full TTL from a moment after it asked. A lease
      // the caller brought is its own to renew: the answer says what it has left.
      if (lease.created_for === next.request_id) lease = this.extend(lease);
      m = this.grant(m, next, lease, index);
      const ttl = this.remaining(lease);
      if (next.request_id) {
        this.s.waiting.delete(requestKey(next.request_id));
        this.record(next.request_id, {
          status: 'granted',
          lease_id: lease.id,
          token: index,
          ttl_ms: ttl,
        });
      }
      this.emit({
        type: 'waiter_done',
        request_id: next.request_id,
        lease_id: lease.id,
        granted: true,
        token: index,
        ttl_ms: ttl,
      });
    }
    if (m.holder || m.queue.length > 0 || delayed(m, this.s.clock)) return;
    if (m.kind === 'election') this.emit({ type: 'election', name: m.name, leader: null });
    this.s.deleteMutex(key);
  }

  /** Takes lease's waiter out of m's queue; the waiter, if it was there. */
  private removeWaiter(m: Mutex, leaseId: string): Waiter | undefined {
    const i = m.queue.findIndex((w) => w.lease_id === leaseId);
    if (i < 0) return undefined;
    const w = m.queue[i]!;
    const key = stateKey(m.kind, m.name);
    const queue = m.queue.filter((_, j) => j !== i);
    this.putMutex(m, { queue: queue.length === 0 ? NO_WAITERS : queue });
    const lease = this.s.leases.get(leaseId);
    if (lease) this.putLease(lease, { waits: keysDelete(lease.waits, key) });
    if (w.request_id) this.s.waiting.delete(requestKey(w.request_id));
    return w;
  }

  /** A waiter whose lease is gone leaves the queue, and its call is told (NOT_FOUND). */
  private loseWaiter(m: Mutex, leaseId: string): void {
    const w = this.removeWaiter(m, leaseId);
    if (!w?.request_id) return;
    this.record(w.request_id, { status: 'lease_not_found' });
    this.emit({
      type: 'waiter_done',
      request_id: w.request_id,
      lease_id: leaseId,
      granted: false,
      lost: true,
    });
  }

  private cancelWait(c: CancelWaitCmd, index: number): ApplyResult {
    const m = this.mutex(c.kind, c.name);
    const w = m?.queue.find((x) => x.request_id === c.request_id);
    if (!m || !w) return this.recorded(c.request_id) ?? { status: 'ignored' };
    this.removeWaiter(m, w.lease_id);
    // An EXCLUSIVE waiter at the head may have held back SHARED ones behind it.
    this.serve(this.mutex(c.kind, c.name)!, index);
    const r: ApplyResult = { status: 'held', holder: m.holder?.owner ?? '' };
    this.record(c.request_id, r);
    const lease = this.s.leases.get(w.lease_id);
    // A lease made just for this wait and holding nothing else would only linger until expiry.
    if (lease && lease.holds === null && lease.waits === null && lease.created_for === c.request_id)
      this.dropLease(lease, 0, false);
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
    const lease = this.s.leases.get(c.lease_id);
    if (!lease) return { status: 'ok', released: false };
    if (!mayUse(lease, c.by)) return { status: 'not_owner' };
    if (c.name === '') {
      this.dropLease(lease, index, false);
      return { status: 'ok', released: true };
    }
    const m = this.mutex(c.kind, c.name);
    if (m && holdOf(m, lease.id)) {
      this.vacate(m, lease.id, index, false);
      return { status: 'ok', released: true };
    }
    const w = c.kind === 'election' && m ? this.removeWaiter(m, lease.id) : undefined;
    if (w) {
      this.serve(this.mutex(c.kind, c.name)!, index);
      // A candidate resigning from the queue: its own Campaign call may still be waiting. End it
      // now as not elected, as a cancelled wait is, and answer a retry of it the same way.
      if (w.request_id) {
        const r: ApplyResult = { status: 'held', holder: m!.holder?.owner ?? '' };
        this.record(w.request_id, r);
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
    // In key order, not the order they were taken: a replica restored from a snapshot knows
    // the set, not its history, and every replica must apply alike.
    const holds = [...keysOf(lease.holds)].sort();
    for (const key of [...keysOf(lease.waits)].sort()) {
      this.loseWaiter(this.s.mutexes.get(key)!, lease.id);
      // Waiters held back by this one (SHARED ones behind an EXCLUSIVE one) may now hold.
      this.serve(this.s.mutexes.get(key)!, index);
    }
    for (const key of holds) this.vacate(this.s.mutexes.get(key)!, lease.id, index, expired);
    this.s.deleteLease(lease.id);
    this.emit({ type: 'lease_gone', lease_id: lease.id, expired, holds });
  }

  private proclaim(c: ProclaimCmd): ApplyResult {
    const lease = this.s.leases.get(c.lease_id);
    if (lease && !mayUse(lease, c.by)) return { status: 'not_owner' };
    const m = this.mutex('election', c.name);
    if (!m?.holder || m.holder.lease_id !== c.lease_id) return { status: 'not_holder' };
    const holder = { ...m.holder, value: c.value };
    this.putMutex(m, { holder });
    this.emit({
      type: 'election',
      name: c.name,
      leader: {
        candidate: holder.owner,
        value: c.value,
        token: holder.token,
        lease_id: holder.lease_id,
      },
    });
    return { status: 'ok' };
  }

  // ---- snapshots -----------------------------------------------------------------------------

  /**
   * The state as of the last applied entry, in chunks made as they are pulled: a copy-on-write
   * view, so entries may apply while it is read without changing what it yields.
   */
  snapshot(chunkBytes?: number): Iterable<Uint8Array> {
    return writeSnapshot(this.s, chunkBytes);
  }

  /**
   * Replaces the state with a snapshot's, built aside as its chunks are read: the current state
   * serves reads until the new one is whole. The highest token survives: tokens only grow.
   */
  async restore(
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    _meta?: SnapshotMeta,
  ): Promise<void> {
    this.s = await restoreState(chunks, this.s.tally.maxToken);
    this.emit({ type: 'restored' });
  }
}

export { keysCount, keysHas };
