import { EntryType } from '../../../libs/raft/src/index.js';
import {
  DEDUP_WINDOW_MS,
  keysCount,
  LockStateMachine,
  MAX_EXPIRIES_PER_ENTRY,
} from '../src/domain/state-machine.js';
import { granted, Log } from './fixtures/log.js';

/** A snapshot's chunks, as the Raft driver streams them to restore(). */
async function* stream(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

/** A snapshot's bytes, whole, for comparing two. */
const bytes = (sm: LockStateMachine): Buffer => Buffer.concat([...sm.snapshot()]);

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
    // The waiter's retry now returns its grant.
    expect(log.acquire('x', { owner: 'b', wait: true, request_id: 'rb' })).toMatchObject({
      status: 'granted',
      token: h1.token,
    });
    log.apply({ op: 'release', kind: 'lock', lease_id: h1.lease_id, name: 'x' });
    const h2 = log.sm.mutex('lock', 'x')!.holder!;
    expect(h2.owner).toBe('c');
    expect(a.token).toBeLessThan(h1.token);
    expect(h1.token).toBeLessThan(h2.token);
    // Once released, a retry no longer claims the grant: it reports who holds the lock now.
    expect(log.acquire('x', { owner: 'b', wait: true, request_id: 'rb' })).toEqual({
      status: 'held',
      holder: 'c',
    });
  });

  test('one lease holds many locks; releasing the lease releases them all and wakes their waiters', () => {
    const log = new Log();
    const g = granted(log.acquire('l1'));
    granted(log.acquire('l2', { lease_id: g.lease_id }));
    log.acquire('l2', { owner: 'w', wait: true, request_id: 'w1' });
    expect(keysCount(log.sm.leases.get(g.lease_id)!.holds)).toBe(2);
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

  test('a lease expires at the first entry stamped at or past its expiry, and its lock goes to the next waiter', () => {
    const log = new Log();
    const g = granted(log.acquire('a', { owner: 'alice' }));
    const q = log.acquire('a', { owner: 'bob', wait: true, request_id: 'rb' });
    if (q.status !== 'queued') throw new Error('not queued');
    // Bob's call keeps its own lease alive (the leader renews it); alice stopped renewing.
    log.t += 10_000;
    log.apply({ op: 'renew', lease_ids: [q.lease_id] });
    log.t += 4_999;
    log.apply({ op: 'tick' });
    expect(log.sm.leases.has(g.lease_id)).toBe(true);
    log.t += 1;
    log.apply({ op: 'tick' });
    expect(log.sm.leases.has(g.lease_id)).toBe(false);
    const h = log.sm.mutex('lock', 'a')!.holder!;
    expect(h).toMatchObject({ owner: 'bob', token: log.index });
    expect(log.events).toContainEqual({
      type: 'lock',
      name: 'a',
      event: 2,
      owner: 'alice',
      token: g.token,
      lease_id: g.lease_id,
    });
  });

  test('a renewal gives a full TTL from its own stamp; renewing a lease past its expiry finds nothing', () => {
    const log = new Log();
    const g = granted(log.acquire('a'));
    log.t += 10_000;
    expect(log.apply({ op: 'renew', lease_ids: [g.lease_id] })).toEqual({
      status: 'ok',
      missing: [],
    });
    expect(log.sm.leases.get(g.lease_id)!.expires_at).toBe(log.t + 15_000);
    log.t += 15_000;
    expect(log.apply({ op: 'renew', lease_ids: [g.lease_id, 'nosuchlease'] })).toEqual({
      status: 'ok',
      missing: [g.lease_id, 'nosuchlease'],
    });
    expect(log.sm.leases.has(g.lease_id)).toBe(false);
  });

  test('a waiter whose lease expires is dropped at once and told, never granted', () => {
    const log = new Log();
    const g = granted(log.acquire('a'));
    log.t += 1_000;
    const q = log.acquire('a', { owner: 'w', wait: true, request_id: 'rw' });
    if (q.status !== 'queued') throw new Error('not queued');
    log.t += 13_000; // the holder's lease is renewed, the waiter's is not
    log.apply({ op: 'renew', lease_ids: [g.lease_id] });
    log.t += 2_000;
    log.apply({ op: 'tick' });
    expect(log.sm.leases.has(q.lease_id)).toBe(false);
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

  test('a lease holds or waits for at most its limit of locks, and elections are bounded in number; refusals change nothing', () => {
    const log = new Log();
    const g = granted(log.acquire('a', { max_per_lease: 2 }));
    granted(log.acquire('b', { lease_id: g.lease_id, max_per_lease: 2 }));
    expect(log.acquire('c', { lease_id: g.lease_id, max_per_lease: 2 })).toEqual({
      status: 'exhausted',
      what: `too many locks on lease ${g.lease_id}`,
    });
    granted(log.acquire('e1', { kind: 'election', max_elections: 1 }));
    expect(log.acquire('e2', { kind: 'election', max_elections: 1 })).toMatchObject({
      status: 'exhausted',
      what: 'too many elections',
    });
    // The same election again is no new election: it queues or answers as usual.
    expect(log.acquire('e1', { kind: 'election', max_elections: 1 }).status).toBe('held');
    expect(log.sm.mutex('lock', 'c')).toBeUndefined();
    expect(log.sm.mutex('election', 'e2')).toBeUndefined();
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

  test('a grant on a caller’s lease renews it when the call is answered at once, else answers what it has left', () => {
    const log = new Log();
    const g = granted(log.acquire('a'));
    log.t += 14_000;
    expect(granted(log.acquire('b', { lease_id: g.lease_id })).ttl_ms).toBe(15_000);
    expect(log.sm.leases.get(g.lease_id)!.expires_at).toBe(log.t + 15_000);
    log.t += 14_000;
    // After a wait the grant comes from another entry, and the caller may be long gone: its
    // lease is not renewed for it, and the answer promises only what the lease has left.
    const h = granted(log.acquire('c'));
    log.acquire('c', { lease_id: g.lease_id, wait: true, request_id: 'rc' });
    log.t += 400;
    log.apply({ op: 'release', kind: 'lock', lease_id: h.lease_id, name: 'c' });
    expect(log.events).toContainEqual(
      expect.objectContaining({
        type: 'waiter_done',
        request_id: 'rc',
        granted: true,
        ttl_ms: 600,
      }),
    );
    expect(log.sm.recorded('rc')).toMatchObject({ status: 'granted', ttl_ms: 600 });
  });

  test('a grant after a wait renews the lease the wait created, and answers its full TTL', () => {
    const log = new Log();
    const h = granted(log.acquire('a'));
    const q = log.acquire('a', { owner: 'w', wait: true, request_id: 'rw' });
    if (q.status !== 'queued') throw new Error('not queued');
    log.t += 10_000;
    log.apply({ op: 'release', kind: 'lock', lease_id: h.lease_id, name: 'a' });
    expect(log.sm.leases.get(q.lease_id)!.expires_at).toBe(log.t + 15_000);
    expect(log.sm.recorded('rw')).toMatchObject({ status: 'granted', ttl_ms: 15_000 });
  });

  test('a retry returns the same grant and renews its lease from the retry; NOT_FOUND once it expired', () => {
    const log = new Log();
    const g = granted(log.acquire('a', { request_id: 'r1' }));
    log.t += 5_000;
    expect(log.acquire('a', { request_id: 'r1' })).toEqual(g);
    expect(log.sm.leases.get(g.lease_id)!.expires_at).toBe(log.t + 15_000);
    log.t += 15_000;
    expect(log.acquire('a', { request_id: 'r1' })).toEqual({ status: 'lease_not_found' });
  });

  test('a mass expiry is spread over entries in the same order on every replica, restored or not', async () => {
    const log = new Log();
    const n = MAX_EXPIRIES_PER_ENTRY * 2 + 500;
    for (let i = 0; i < n; i++) granted(log.acquire(`k${i}`, { new_lease_id: `l${i % 7}-${i}` }));
    // Renew every third lease: a replica that applied this has moved their expiries in place.
    log.t += 1_000;
    const renewed = [...log.sm.leases.values()].map((l) => l.id).filter((_, i) => i % 3 === 0);
    log.apply({ op: 'renew', lease_ids: renewed });
    const copy = new LockStateMachine();
    await copy.restore(stream(log.sm.snapshot()), { index: log.index, term: 1 });
    const other = new Log(copy);
    other.index = log.index;
    other.t = log.t;
    for (const l of [log, other]) {
      l.t += 14_500;
      l.apply({ op: 'tick' });
    }
    const due = n - renewed.length;
    expect(log.sm.leases.size).toBe(n - MAX_EXPIRIES_PER_ENTRY);
    expect(bytes(copy)).toEqual(bytes(log.sm));
    for (const l of [log, other]) l.apply({ op: 'tick' });
    expect(bytes(copy)).toEqual(bytes(log.sm));
    for (const l of [log, other]) l.apply({ op: 'tick' });
    expect(log.sm.leases.size).toBe(n - due);
    expect(bytes(copy)).toEqual(bytes(log.sm));
  });

  test('a lease past its expiry is never granted, even before a capped expiry got to it', () => {
    const log = new Log();
    for (let i = 0; i < MAX_EXPIRIES_PER_ENTRY; i++) granted(log.acquire(`k${i}`));
    const h = granted(log.acquire('x', { owner: 'h' }));
    log.t += 1_000;
    const q = log.acquire('x', { owner: 'w', wait: true, request_id: 'rw' });
    if (q.status !== 'queued') throw new Error('not queued');
    log.t += 15_000; // everything is due; this entry expires only the first MAX (by expiry)
    log.apply({ op: 'release', kind: 'lock', lease_id: h.lease_id, name: 'x' });
    expect(log.sm.leases.has(q.lease_id)).toBe(true);
    expect(log.sm.mutex('lock', 'x')).toBeUndefined();
    expect(log.events).toContainEqual(
      expect.objectContaining({ type: 'waiter_done', request_id: 'rw', lost: true }),
    );
  });

  test('a snapshot of format 1 (remaining TTLs, no expiries) restores every lease with a full TTL', async () => {
    const v1 = {
      leases: [{ id: 'l1', ttl_ms: 5000, seq: 2, checkpoint_ms: 100, holds: ['l:a'], waits: [] }],
      mutexes: [
        {
          kind: 'lock',
          name: 'a',
          holder: { lease_id: 'l1', owner: 'o', value: '', token: 7, request_id: '' },
          queue: [],
        },
      ],
      dedup: [],
      members: [['n1', '127.0.0.1:1']],
      leaderTerm: 3,
      clock: 42_000,
    };
    const sm = new LockStateMachine();
    await sm.restore(stream([Buffer.from(JSON.stringify(v1))]), { index: 9, term: 3 });
    expect(sm.leases.get('l1')!.expires_at).toBe(47_000);
    expect(sm.nextExpiry()).toBe(47_000);
    expect(sm.mutex('lock', 'a')!.holder!.token).toBe(7);
  });

  test('a malformed command is ignored, not fatal', () => {
    const log = new Log();
    expect(
      log.sm.apply({ index: 99, term: 1, type: EntryType.Normal, data: Buffer.from('not json') }),
    ).toEqual({ status: 'ignored' });
  });

  test('snapshot and restore round-trip the whole state, including queues and the retry table', async () => {
    const log = new Log();
    const g = granted(log.acquire('a', { owner: 'alice', request_id: 'r1' }));
    log.acquire('a', { owner: 'bob', wait: true, request_id: 'r2' });
    granted(log.acquire('e', { kind: 'election', owner: 'c', value: 'v' }));
    log.apply({ op: 'member', id: 'n1', client_address: '127.0.0.1:1' });
    const copy = new LockStateMachine();
    await copy.restore(stream(log.sm.snapshot()), { index: log.index, term: 1 });
    expect(bytes(copy)).toEqual(bytes(log.sm));
    expect(copy.recorded('r1')).toEqual(g);
    expect(copy.waitingOn('r2')).toBe('a');
    // Both continue identically.
    const next = new Log(copy);
    next.index = log.index;
    log.apply({ op: 'release', kind: 'lock', lease_id: g.lease_id, name: '' });
    next.apply({ op: 'release', kind: 'lock', lease_id: g.lease_id, name: '' });
    expect(bytes(copy)).toEqual(bytes(log.sm));
  });
});
