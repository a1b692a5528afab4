import { type Entry, EntryType } from '../../../libs/raft/src/index.js';
import type { AcquireCmd, ApplyResult, Command, UnstampedCommand } from '../src/domain/commands.js';
import { encodeCommand } from '../src/domain/commands.js';
import type { SmEvent } from '../src/domain/events.js';
import { DEDUP_WINDOW_MS, LockStateMachine } from '../src/domain/state-machine.js';

/** Feeds commands to a state machine as a log would: consecutive indexes, a given term. */
class Log {
  index = 0;
  term = 1;
  t = 1_000_000;
  events: SmEvent[] = [];
  constructor(readonly sm = new LockStateMachine()) {
    sm.onEvent((e) => this.events.push(e));
    this.noop();
  }
  noop(term = this.term): void {
    this.term = term;
    this.sm.apply({ index: ++this.index, term, type: EntryType.Noop, data: new Uint8Array() });
  }
  apply(c: UnstampedCommand, term = this.term): ApplyResult {
    const e: Entry = {
      index: ++this.index,
      term,
      type: EntryType.Normal,
      data: encodeCommand({ ...c, t: this.t } as Command),
    };
    return this.sm.apply(e);
  }
  acquire(name: string, o: Partial<AcquireCmd> = {}): ApplyResult {
    return this.apply({
      op: 'acquire',
      kind: 'lock',
      name,
      owner: o.owner ?? 'owner',
      value: o.value ?? '',
      ttl_ms: 15_000,
      wait: o.wait ?? false,
      request_id: o.request_id ?? '',
      lease_id: o.lease_id ?? '',
      new_lease_id: o.new_lease_id ?? `lease${this.index + 1}`,
      max_leases: o.max_leases ?? 100,
      max_waiters: o.max_waiters ?? 100,
      ...(o.kind ? { kind: o.kind } : {}),
    });
  }
}

const granted = (r: ApplyResult) => {
  if (r.status !== 'granted') throw new Error(`expected a grant, got ${JSON.stringify(r)}`);
  return r;
};

describe('LockStateMachine', () => {
  test('a free lock is granted with the entry index as fencing token; a held one is refused with its holder', () => {
    const log = new Log();
    const g = granted(log.acquire('a', { owner: 'alice' }));
    expect(g.token).toBe(log.index);
    expect(g.ttl_ms).toBe(15_000);
    expect(log.acquire('a', { owner: 'bob' })).toEqual({ status: 'held', holder: 'alice' });
    // A refused try-lock creates no lease.
    expect(log.sm.leases.size).toBe(1);
  });

  test('waiters are granted in FIFO order, one per release, with strictly increasing tokens', () => {
    const log = new Log();
    const a = granted(log.acquire('x', { owner: 'a' }));
    const qb = log.acquire('x', { owner: 'b', wait: true, request_id: 'rb' });
    const qc = log.acquire('x', { owner: 'c', wait: true, request_id: 'rc' });
    expect(qb.status).toBe('queued');
    expect(qc.status).toBe('queued');
    expect(log.sm.mutex('lock', 'x')!.queue.map((w) => w.owner)).toEqual(['b', 'c']);
    log.apply({ op: 'release', kind: 'lock', lease_id: a.lease_id, name: 'x' });
    const h1 = log.sm.mutex('lock', 'x')!.holder!;
    expect(h1.owner).toBe('b');
    expect(h1.token).toBe(log.index);
    expect(log.sm.mutex('lock', 'x')!.queue).toHaveLength(1);
    log.apply({ op: 'release', kind: 'lock', lease_id: h1.lease_id, name: 'x' });
    const h2 = log.sm.mutex('lock', 'x')!.holder!;
    expect(h2.owner).toBe('c');
    expect(a.token).toBeLessThan(h1.token);
    expect(h1.token).toBeLessThan(h2.token);
    // The waiter's retry now returns its grant.
    expect(log.acquire('x', { owner: 'b', wait: true, request_id: 'rb' })).toMatchObject({
      status: 'granted',
      token: h1.token,
    });
  });

  test('one lease holds many locks; releasing the lease releases them all and wakes their waiters', () => {
    const log = new Log();
    const g = granted(log.acquire('l1'));
    granted(log.acquire('l2', { lease_id: g.lease_id }));
    log.acquire('l2', { owner: 'w', wait: true, request_id: 'w1' });
    expect(log.sm.leases.get(g.lease_id)!.holds.size).toBe(2);
    expect(log.apply({ op: 'release', kind: 'lock', lease_id: g.lease_id, name: '' })).toEqual({
      status: 'ok',
      released: true,
    });
    expect(log.sm.leases.has(g.lease_id)).toBe(false);
    expect(log.sm.mutex('lock', 'l1')).toBeUndefined();
    expect(log.sm.mutex('lock', 'l2')!.holder!.owner).toBe('w');
  });

  test('acquire with the lease that already holds the lock returns the existing grant', () => {
    const log = new Log();
    const g = granted(log.acquire('a'));
    expect(log.acquire('a', { lease_id: g.lease_id })).toEqual(g);
  });

  test('release by a lease that does not hold the lock changes nothing; releasing twice is not an error', () => {
    const log = new Log();
    const g = granted(log.acquire('a'));
    const other = granted(log.acquire('b'));
    expect(log.apply({ op: 'release', kind: 'lock', lease_id: other.lease_id, name: 'a' })).toEqual(
      { status: 'ok', released: false },
    );
    expect(log.sm.mutex('lock', 'a')!.holder!.lease_id).toBe(g.lease_id);
    expect(log.apply({ op: 'release', kind: 'lock', lease_id: g.lease_id, name: 'a' })).toEqual({
      status: 'ok',
      released: true,
    });
    expect(log.apply({ op: 'release', kind: 'lock', lease_id: g.lease_id, name: 'a' })).toEqual({
      status: 'ok',
      released: false,
    });
    expect(
      log.apply({ op: 'release', kind: 'lock', lease_id: 'ffffffffffffffff', name: '' }),
    ).toEqual({ status: 'ok', released: false });
  });

  test('a retried request_id returns the same grant and never creates a second one', () => {
    const log = new Log();
    const g = granted(log.acquire('a', { request_id: 'r1', new_lease_id: 'first' }));
    const again = log.acquire('a', { request_id: 'r1', new_lease_id: 'second' });
    expect(again).toEqual(g);
    expect(log.sm.leases.size).toBe(1);
  });

  test('the retry table forgets requests after the window, by the leaders’ clock', () => {
    const log = new Log();
    granted(log.acquire('a', { request_id: 'old' }));
    expect(log.sm.recorded('old')).toBeDefined();
    log.t += DEDUP_WINDOW_MS - 1;
    log.acquire('b');
    expect(log.sm.recorded('old')).toBeDefined();
    log.t += 2;
    log.acquire('c');
    expect(log.sm.recorded('old')).toBeUndefined();
  });

  test('expiry: only the current leader’s decision counts, and not for a lease renewed since', () => {
    const log = new Log();
    const g = granted(log.acquire('a', { owner: 'alice' }));
    const seq = log.sm.leases.get(g.lease_id)!.seq;
    // Renewed through the log after the leader decided: the decision is void.
    log.apply({ op: 'renew', lease_ids: [g.lease_id] });
    expect(log.apply({ op: 'expire', lease_id: g.lease_id, seq })).toEqual({ status: 'ignored' });
    expect(log.sm.leases.has(g.lease_id)).toBe(true);
    // A new leader's no-op; a late expire from the old term is void too.
    const seq2 = log.sm.leases.get(g.lease_id)!.seq;
    log.noop(2);
    expect(log.apply({ op: 'expire', lease_id: g.lease_id, seq: seq2 }, 1)).toEqual({
      status: 'ignored',
    });
    expect(log.sm.leases.has(g.lease_id)).toBe(true);
    // The current leader's decision expires it and frees the lock.
    expect(log.apply({ op: 'expire', lease_id: g.lease_id, seq: seq2 }, 2)).toEqual({
      status: 'ok',
    });
    expect(log.sm.leases.has(g.lease_id)).toBe(false);
    expect(log.sm.mutex('lock', 'a')).toBeUndefined();
    expect(log.events).toContainEqual({
      type: 'lock',
      name: 'a',
      event: 2,
      owner: 'alice',
      token: g.token,
    });
  });

  test('a waiter whose lease expires is dropped at once and told, never granted', () => {
    const log = new Log();
    const g = granted(log.acquire('a'));
    const q = log.acquire('a', { owner: 'w', wait: true, request_id: 'rw' });
    if (q.status !== 'queued') throw new Error('not queued');
    log.apply({ op: 'expire', lease_id: q.lease_id, seq: log.sm.leases.get(q.lease_id)!.seq });
    expect(log.events).toContainEqual(
      expect.objectContaining({ type: 'waiter_done', request_id: 'rw', lost: true }),
    );
    log.apply({ op: 'release', kind: 'lock', lease_id: g.lease_id, name: 'a' });
    expect(log.sm.mutex('lock', 'a')).toBeUndefined();
    expect(log.acquire('a', { request_id: 'rw', wait: true })).toEqual({
      status: 'lease_not_found',
    });
  });

  test('a wait that times out leaves the queue, reports the holder, and drops the lease made for it', () => {
    const log = new Log();
    granted(log.acquire('a', { owner: 'alice' }));
    const q = log.acquire('a', { owner: 'w', wait: true, request_id: 'rw' });
    if (q.status !== 'queued') throw new Error('not queued');
    expect(log.apply({ op: 'cancel_wait', kind: 'lock', name: 'a', request_id: 'rw' })).toEqual({
      status: 'held',
      holder: 'alice',
    });
    expect(log.sm.mutex('lock', 'a')!.queue).toHaveLength(0);
    expect(log.sm.leases.has(q.lease_id)).toBe(false);
  });

  test('limits on leases and waiters are enforced deterministically', () => {
    const log = new Log();
    granted(log.acquire('a', { max_leases: 1 }));
    expect(log.acquire('b', { max_leases: 1 })).toEqual({
      status: 'exhausted',
      what: 'too many leases',
    });
    expect(log.acquire('a', { wait: true, max_waiters: 0 })).toMatchObject({ status: 'exhausted' });
  });

  test('elections: first candidate leads, proclaim changes the value, resign hands over in FIFO order', () => {
    const log = new Log();
    const a = granted(log.acquire('e', { kind: 'election', owner: 'a', value: 'va' }));
    log.acquire('e', { kind: 'election', owner: 'b', value: 'vb', wait: true, request_id: 'rb' });
    expect(log.apply({ op: 'proclaim', name: 'e', lease_id: a.lease_id, value: 'va2' })).toEqual({
      status: 'ok',
    });
    expect(log.sm.mutex('election', 'e')!.holder).toMatchObject({ owner: 'a', value: 'va2' });
    expect(log.apply({ op: 'proclaim', name: 'e', lease_id: 'someoneelse', value: 'x' })).toEqual({
      status: 'not_holder',
    });
    expect(log.apply({ op: 'release', kind: 'election', lease_id: a.lease_id, name: 'e' })).toEqual(
      { status: 'ok', released: true },
    );
    const h = log.sm.mutex('election', 'e')!.holder!;
    expect(h).toMatchObject({ owner: 'b', value: 'vb' });
    expect(h.token).toBeGreaterThan(a.token);
    // Locks and elections are separate namespaces.
    expect(log.sm.mutex('lock', 'e')).toBeUndefined();
    const lastLeader = log.events.filter((e) => e.type === 'election').at(-1);
    expect(lastLeader).toMatchObject({ name: 'e', leader: { candidate: 'b' } });
  });

  test('a candidate resigning from the queue ends its wait as not elected, also for retries', () => {
    const log = new Log();
    granted(log.acquire('e', { kind: 'election', owner: 'a' }));
    const q = log.acquire('e', { kind: 'election', owner: 'b', wait: true, request_id: 'rb' });
    if (q.status !== 'queued') throw new Error('not queued');
    log.events = [];
    expect(log.apply({ op: 'release', kind: 'election', lease_id: q.lease_id, name: 'e' })).toEqual(
      { status: 'ok', released: true },
    );
    expect(log.events).toEqual([
      { type: 'waiter_done', request_id: 'rb', lease_id: q.lease_id, granted: false, holder: 'a' },
    ]);
    expect(log.sm.mutex('election', 'e')!.queue).toEqual([]);
    expect(log.sm.waitingOn('rb')).toBeUndefined();
    expect(log.sm.recorded('rb')).toEqual({ status: 'held', holder: 'a' });
    // Its lease lives on, and resigning again changes nothing.
    expect(log.sm.leases.has(q.lease_id)).toBe(true);
    expect(log.apply({ op: 'release', kind: 'election', lease_id: q.lease_id, name: 'e' })).toEqual(
      { status: 'ok', released: false },
    );
  });

  test('checkpoints record remaining TTLs unless the lease was renewed since', () => {
    const log = new Log();
    const g = granted(log.acquire('a'));
    const seq = log.sm.leases.get(g.lease_id)!.seq;
    log.apply({ op: 'checkpoint', leases: [[g.lease_id, 4000, seq]] });
    expect(log.sm.leases.get(g.lease_id)!.checkpoint_ms).toBe(4000);
    log.apply({ op: 'renew', lease_ids: [g.lease_id] });
    expect(log.sm.leases.get(g.lease_id)!.checkpoint_ms).toBeNull();
    log.apply({ op: 'checkpoint', leases: [[g.lease_id, 1000, seq]] });
    expect(log.sm.leases.get(g.lease_id)!.checkpoint_ms).toBeNull();
  });

  test('a malformed command is ignored, not fatal', () => {
    const log = new Log();
    expect(
      log.sm.apply({ index: 99, term: 1, type: EntryType.Normal, data: Buffer.from('not json') }),
    ).toEqual({ status: 'ignored' });
  });

  test('snapshot and restore round-trip the whole state, including queues and the retry table', () => {
    const log = new Log();
    const g = granted(log.acquire('a', { owner: 'alice', request_id: 'r1' }));
    log.acquire('a', { owner: 'bob', wait: true, request_id: 'r2' });
    granted(log.acquire('e', { kind: 'election', owner: 'c', value: 'v' }));
    log.apply({ op: 'member', id: 'n1', client_address: '127.0.0.1:1' });
    const copy = new LockStateMachine();
    copy.restore(log.sm.snapshot(), { index: log.index, term: 1 });
    expect(copy.snapshot()).toEqual(log.sm.snapshot());
    expect(copy.recorded('r1')).toEqual(g);
    expect(copy.waitingOn('r2')).toBe('l:a');
    // Both continue identically.
    const next = new Log(copy);
    next.index = log.index;
    log.apply({ op: 'release', kind: 'lock', lease_id: g.lease_id, name: '' });
    next.apply({ op: 'release', kind: 'lock', lease_id: g.lease_id, name: '' });
    expect(copy.snapshot()).toEqual(log.sm.snapshot());
  });
});
