import { jest } from '@jest/globals';
import type { MutexRequest } from '../src/domain/leader-duties.js';
import { decodeCommand } from '../src/domain/commands.js';
import { Code, DomainError } from '../src/domain/errors.js';
import { ABANDONED_WAIT_GRACE_MS, type WaitOutcome } from '../src/domain/waits.js';
import { LeaderHarness, settle } from './fixtures/leader-harness.js';

const req = (name: string, o: Partial<MutexRequest> = {}): MutexRequest => ({
  name,
  owner: o.owner ?? 'o',
  value: '',
  ttl: o.ttl ?? 1_000,
  waitMs: o.waitMs ?? 0,
  requestId: o.requestId ?? '',
  leaseId: o.leaseId ?? '',
  ...(o.hold ? { hold: o.hold } : {}),
});

/** A call's outcome once it settles, without awaiting it (it may be waiting in a queue). */
function track(p: Promise<WaitOutcome>) {
  const s: { outcome?: WaitOutcome; error?: DomainError } = {};
  p.then(
    (o) => (s.outcome = o),
    (e: DomainError) => (s.error = e),
  );
  return s;
}

const made: LeaderHarness[] = [];
/** A harness whose waiting calls end with the test. */
function harness(o?: ConstructorParameters<typeof LeaderHarness>[0]): LeaderHarness {
  const h = new LeaderHarness(o);
  made.push(h);
  return h;
}
afterEach(() => {
  for (const h of made.splice(0)) h.stepDown();
});

describe('LeaderDuties: what only the leader does', () => {
  test('a waiter on its caller’s lease does not keep that lease alive: it expires, the call gets NOT_FOUND, its locks are freed', async () => {
    const h = harness();
    h.lead();
    const holder = await h.leadership.acquire('lock', req('a', { owner: 'holder' }), {});
    const mine = await h.leadership.acquire('lock', req('b', { owner: 'me' }), {});
    const waiting = track(
      h.leadership.acquire(
        'lock',
        req('a', { owner: 'me', leaseId: mine.lease_id, waitMs: 60_000 }),
        {},
      ),
    );
    // The holder keeps renewing; the waiter's owner stopped.
    for (let i = 0; i < 4; i++) {
      await h.advance(300);
      await h.leadership.renew(holder.lease_id, {});
    }
    expect(waiting.error?.code).toBe(Code.NOT_FOUND);
    expect(h.sm.leases.has(mine.lease_id)).toBe(false);
    expect(h.sm.mutex('lock', 'b')).toBeUndefined();
    expect(h.sm.mutex('lock', 'a')!.holder!.owner).toBe('holder');
  });

  test('a waiter’s own lease is kept alive however long it waits, and its grant carries a full TTL', async () => {
    const h = harness();
    h.lead();
    const holder = await h.leadership.acquire(
      'lock',
      req('a', { owner: 'holder', ttl: 5_000 }),
      {},
    );
    const waiting = track(
      h.leadership.acquire('lock', req('a', { owner: 'w', waitMs: 60_000 }), {}),
    );
    await h.advance(4_000); // four TTLs of the waiter's lease
    expect(waiting.outcome).toBeUndefined();
    await h.leadership.renew(holder.lease_id, {});
    await h.advance(1_000);
    expect(h.ops('renew').length).toBeGreaterThan(1);
    const released = h.leadership.propose({
      op: 'release',
      kind: 'lock',
      lease_id: holder.lease_id,
      name: 'a',
    });
    await settle();
    await expect(released).resolves.toBeDefined();
    expect(waiting.outcome).toMatchObject({ granted: true, ttl_ms: 1_000, holder: 'w' });
  });

  describe('a waiting call that goes away (cancelled, or moved by its client)', () => {
    async function queued(h: LeaderHarness, waitMs = 60_000) {
      h.lead();
      const holder = await h.leadership.acquire(
        'lock',
        req('a', { owner: 'holder', ttl: 30_000 }),
        {},
      );
      const call = new AbortController();
      const w = req('a', { owner: 'w', waitMs, requestId: 'r1' });
      const first = track(h.leadership.acquire('lock', w, { signal: call.signal }));
      await settle();
      expect(h.sm.mutex('lock', 'a')?.queue).toHaveLength(1);
      const release = () =>
        h.leadership.propose({ op: 'release', kind: 'lock', lease_id: holder.lease_id, name: 'a' });
      return { w, first, call, release };
    }

    test('stays queued for the grace, then is cancelled through the log', async () => {
      const h = harness();
      const { first, call } = await queued(h);
      call.abort();
      await h.advance(ABANDONED_WAIT_GRACE_MS - 1);
      expect(h.ops('cancel_wait')).toHaveLength(0);
      expect(h.sm.mutex('lock', 'a')?.queue).toHaveLength(1);
      await h.advance(1);
      await settle();
      expect(h.ops('cancel_wait')).toHaveLength(1);
      expect(h.sm.mutex('lock', 'a')?.queue).toHaveLength(0);
      expect(first.outcome).toMatchObject({ granted: false, holder: 'holder' });
    });

    test('a wait that runs out within the grace is cancelled when it runs out', async () => {
      const h = harness();
      const { call } = await queued(h, 300);
      call.abort();
      await h.advance(300);
      await settle();
      expect(h.ops('cancel_wait')).toHaveLength(1);
    });

    test('its retry with the same request id takes the wait over in its place, and is granted', async () => {
      const h = harness();
      const { w, first, call, release } = await queued(h);
      call.abort();
      await h.advance(ABANDONED_WAIT_GRACE_MS / 2);
      const retry = track(h.leadership.acquire('lock', w, {}));
      await settle();
      expect(first.error?.code).toBe(Code.UNAVAILABLE);
      await h.advance(ABANDONED_WAIT_GRACE_MS);
      expect(h.ops('cancel_wait')).toHaveLength(0);
      await release();
      await settle();
      expect(retry.outcome).toMatchObject({ granted: true, holder: 'w' });
    });

    test('granted in the grace: the lease it made is not released, and a retry after the grant holds it', async () => {
      const h = harness();
      const { w, first, call, release } = await queued(h);
      call.abort();
      await release();
      await settle();
      const lease = first.outcome?.lease_id ?? '';
      expect(first.outcome).toMatchObject({ granted: true });
      await settle();
      // A release proposed here could apply after the retry below was told it holds the lock.
      expect(h.ops('release').some((c) => 'lease_id' in c && c.lease_id === lease)).toBe(false);
      const retry = await h.leadership.acquire('lock', w, {});
      expect(retry).toMatchObject({ granted: true, lease_id: lease, token: first.outcome?.token });
      await settle();
      expect(h.sm.live(lease)).toBeDefined();
      expect(h.sm.mutex('lock', 'a')?.holder?.lease_id).toBe(lease);
    });
  });

  test('a wait beyond the limit is refused before anything is proposed', async () => {
    const h = harness({ limits: { maxWaitersPerLock: 1 } }); // 16 waiting calls per node
    h.lead();
    const holder = await h.leadership.acquire('lock', req('a0', { ttl: 60_000 }), {});
    for (let i = 1; i <= 16; i++)
      await h.leadership.acquire('lock', req(`a${i}`, { leaseId: holder.lease_id }), {});
    for (let i = 0; i < 16; i++)
      track(h.leadership.acquire('lock', req(`a${i}`, { waitMs: 60_000 }), {}));
    await settle();
    expect(h.sm.mutex('lock', 'a15')!.queue).toHaveLength(1);
    const before = h.ops('acquire').length;
    await expect(
      h.leadership.acquire('lock', req('a16', { waitMs: 60_000, owner: 'late' }), {}),
    ).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    expect(h.ops('acquire').length).toBe(before);
    expect(h.sm.mutex('lock', 'a16')!.queue).toEqual([]);
  });

  test('stamps follow the lease clock, not the wall clock: a wall clock jump purges no retry record', async () => {
    const h = harness();
    h.lead();
    const first = await h.leadership.acquire(
      'lock',
      req('a', { requestId: 'r1', ttl: 60_000 }),
      {},
    );
    const now = Date.now();
    const spy = jest.spyOn(Date, 'now').mockReturnValue(now + 10 * 60_000);
    try {
      await h.advance(1_000);
      const again = await h.leadership.acquire(
        'lock',
        req('a', { requestId: 'r1', ttl: 60_000 }),
        {},
      );
      expect(again).toMatchObject({ granted: true, lease_id: first.lease_id, token: first.token });
      const stamps = h.ops('acquire').map((c) => c.t);
      expect(Math.max(...stamps) - Math.min(...stamps)).toBeLessThanOrEqual(1_000);
    } finally {
      spy.mockRestore();
    }
  });

  test('an idle leader with leases writes its lease clock at least every checkpoint interval', async () => {
    const h = harness({ checkpointIntervalMs: 200 });
    h.lead();
    await h.advance(1_000);
    expect(h.ops('tick')).toEqual([]); // no leases: nothing to carry
    await h.leadership.acquire('lock', req('a', { ttl: 60_000 }), {});
    await h.advance(1_000);
    const ticks = h.ops('tick').map((c) => c.t);
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < ticks.length; i++)
      expect(ticks[i]! - ticks[i - 1]!).toBeLessThanOrEqual(225);
  });
});

describe('lock-delay under the leader’s duties', () => {
  test('a new leader grants the waiters once a lock-delay begun under the old one ends, never before', async () => {
    const h = harness({ nodes: 3 });
    h.lead(0);
    const hold = { shared: false, limit: 0, delayMs: 2_000 };
    await h.leader!.leadership.acquire('lock', req('a', { owner: 'gone', ttl: 1_500, hold }), {});
    const w = { owner: 'w', waitMs: 60_000, requestId: 'rw', ttl: 60_000 };
    const first = track(h.leader!.leadership.acquire('lock', req('a', w), {}));
    // The holder stops renewing: its lease expires, and the delay begins.
    let until: number | undefined;
    while (until === undefined) {
      await h.advance(25);
      until = h.leader!.sm.mutex('lock', 'a')?.delayed_until;
    }
    await h.advance(500);
    h.heartbeat();
    h.stepDown();
    await settle();
    expect(first.error?.code).toBe(Code.UNAVAILABLE);
    await h.advance(300);
    h.members[1]!.catchUp();
    h.lead(1);
    // The client retries its wait under the same request id, on the new leader.
    const retry = track(h.leader!.leadership.acquire('lock', req('a', w), {}));
    for (let t = 0; t < 3_000 && retry.outcome === undefined; t += 25) {
      await h.advance(25);
      const m = h.leader!.sm.mutex('lock', 'a')!;
      if (m.holder) expect(h.leader!.sm.clock).toBeGreaterThanOrEqual(until);
      else expect(m.delayed_until).toBe(until);
    }
    expect(retry.outcome).toMatchObject({ granted: true, holder: 'w' });
    // Granted by the tick the new leader proposed once the delay was due.
    const grant = h.entries.find((e) => e.index === retry.outcome!.token)!;
    const c = decodeCommand(grant.data);
    expect(c.op).toBe('tick');
    expect(c.t).toBeGreaterThanOrEqual(until);
  });

  test('a leader with a lock-delay but no lease ticks once it is due, and the name is free again', async () => {
    const h = harness();
    h.lead();
    const hold = { shared: false, limit: 0, delayMs: 1_000 };
    const g = await h.leadership.acquire('lock', req('a', { ttl: 1_500, hold }), {});
    while (h.sm.leaseCount > 0) await h.advance(25);
    expect(h.sm.live(g.lease_id)).toBeUndefined();
    expect(h.sm.mutex('lock', 'a')!.delayed_until).toBeDefined();
    await h.advance(1_100);
    expect(h.sm.mutex('lock', 'a')).toBeUndefined();
  });
});

describe('the lease clock across leader changes', () => {
  /**
   * The leader changes every 1.2 s with 300 ms without a leader; the new leader is one of the
   * followers, which applied the log on heartbeats. An abandoned 3 s lease must expire no
   * earlier than 3 s after its last renewal and no later than 3 s + the time without a leader +
   * 1 s; restarting the TTL at every change would keep such a lease for as long as the churn
   * goes on.
   */
  test('an abandoned lease expires within TTL + time without a leader + 1 s, however often the leader changes', async () => {
    const h = harness({ nodes: 3 });
    h.lead(0);
    const g = await h.leadership.acquire('lock', req('a', { ttl: 3_000 }), {});
    await h.advance(500);
    await h.leader!.leadership.renew(g.lease_id, {});
    const renewedAt = h.now; // the client's renewal was sent before this
    let leaderless = 0;
    let expiredAt: number | undefined;
    for (let round = 1; expiredAt === undefined && round < 20; round++) {
      for (let t = 0; t < 1_200 && expiredAt === undefined; t += 25) {
        await h.advance(25);
        if (!h.members.some((m) => m.sm.leases.has(g.lease_id))) expiredAt = h.now;
      }
      if (expiredAt !== undefined) break;
      h.stepDown();
      await h.advance(300);
      leaderless += 300;
      h.members[round % 3]!.catchUp();
      h.lead(round % 3);
    }
    expect(expiredAt).toBeDefined();
    const lived = expiredAt! - renewedAt;
    expect(lived).toBeGreaterThanOrEqual(3_000);
    expect(lived).toBeLessThanOrEqual(3_000 + leaderless + 1_000);
  });
});
