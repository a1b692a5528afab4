// The SDK across failures of a real 3-node cluster: leader kills (retries keep one grant,
// streams move on) and the whole cluster frozen (the lock is given up before it could expire).
import { LocalCluster } from '../../../test/support/cluster.js';
import { type LeaderInfo, LockLostError, type RenewedEvent } from '../src/index.js';
import { clientFor, closeClients, fresh, nextEvent, nextMatching } from './helpers.js';
import { waitFor } from '../../testing/src/wait.js';

describe('QuorumLockClient across failures (3-node cluster)', () => {
  const c = new LocalCluster();
  beforeAll(() => c.start(), 30_000);
  afterEach(() => closeClients());
  afterAll(() => c.stop());

  /** Kills the leader, restarts it, and waits until every node agrees on a leader again. */
  async function killLeader(): Promise<string> {
    const leader = await c.leader();
    await c.kill(leader, 'SIGKILL');
    return leader;
  }
  async function restart(id: string): Promise<void> {
    c.startNode(id);
    await c.leader(20_000);
  }

  test('the same request_id after a leader kill returns the same grant, not a second one', async () => {
    const a = clientFor(c);
    const name = fresh('dedup');
    const requestId = `req-${name}`;
    const first = await a.acquire(name, { ttlMs: 3000, requestId, waitMs: 0 });
    const killed = await killLeader();
    try {
      // The client retries UNAVAILABLE (the dead leader, then no leader) until a new one answers.
      const again = await a.acquire(name, { ttlMs: 3000, requestId, waitMs: 0, autoRenew: false });
      expect(again.fencingToken).toBe(first.fencingToken);
      expect(again.leaseId).toBe(first.leaseId);
      expect(await a.describe(name)).toMatchObject({
        held: true,
        fencingToken: first.fencingToken,
        waiters: 0,
      });
      expect(first.held).toBe(true);
      await first.release();
    } finally {
      await restart(killed);
    }
  });

  test('a wait interrupted by a leader kill is retried with its request_id: one grant', async () => {
    const holder = clientFor(c, { owner: 'holder' });
    const waiter = clientFor(c, { owner: 'waiter' });
    const name = fresh('queued');
    const held = await holder.acquire(name, { ttlMs: 3000 });
    const waiting = waiter.acquire(name, { ttlMs: 3000, waitMs: 20_000 });
    await waitFor('the waiter to queue', async () => (await holder.describe(name)).waiters === 1);
    const killed = await killLeader();
    try {
      await c.leader(20_000);
      // Still queued once: the retry resumed the entry rather than adding a second one.
      await waitFor('the retried wait', async () => (await holder.describe(name)).waiters === 1);
      expect(held.held).toBe(true);
      await held.release();
      const lock = await waiting;
      expect(lock.fencingToken).toBeGreaterThan(held.fencingToken);
      expect(await holder.describe(name)).toMatchObject({
        held: true,
        owner: 'waiter',
        fencingToken: lock.fencingToken,
        waiters: 0,
      });
      await lock.release();
      // A duplicate queue entry would now be granted the lock: nobody may hold it.
      expect(await holder.describe(name)).toMatchObject({ held: false, waiters: 0 });
    } finally {
      await restart(killed);
    }
  });

  test('a call to a paused leader moves to the new one, not after its attempt timeout', async () => {
    const leader = await c.leader();
    // The leader first, so that the call goes there; attempts that could wait a minute.
    const endpoints = [
      c.node(leader).client,
      ...c.endpoints().filter((e) => e !== c.node(leader).client),
    ];
    const a = clientFor(c, { endpoints, attemptTimeoutMs: 60_000, callTimeoutMs: 60_000 });
    const warm = await a.acquire(fresh('warm'), { ttlMs: 3000 });
    await warm.release();
    c.pause(leader);
    try {
      // Unanswered by the paused node, the attempt looks for the leader the others elect and
      // retries there (well within this test's timeout, which is below one attempt's).
      const name = fresh('moved');
      const lock = await a.acquire(name, { ttlMs: 3000, waitMs: 0 });
      expect(await c.leader()).not.toBe(leader);
      expect(await a.describe(name)).toMatchObject({ held: true, fencingToken: lock.fencingToken });
      await lock.release();
    } finally {
      c.resume(leader);
      await c.leader(20_000);
    }
  }, 30_000);

  test('observe re-subscribes on another node when its stream breaks', async () => {
    const a = clientFor(c, { owner: 'obs' });
    const e = fresh('observed');
    const stop = new AbortController();
    const seen = a.observe(e, { signal: stop.signal })[Symbol.asyncIterator]();
    let killed: string | undefined;
    try {
      await nextMatching(seen, (l: LeaderInfo) => !l.hasLeader, 5000);
      // Streams prefer the leader, so killing it breaks this one.
      killed = await killLeader();
      await c.leader(20_000);
      const lead = await a.campaign(e, 'after-kill', { ttlMs: 3000 });
      await nextMatching(seen, (l) => l.value === 'after-kill', 10_000);
      await lead.resign();
      await nextMatching(seen, (l) => !l.hasLeader, 5000);
    } finally {
      stop.abort();
      await seen.return?.(undefined);
      if (killed) await restart(killed);
    }
  });

  test('a frozen cluster: the lock is reported lost before its lease could expire', async () => {
    const a = clientFor(c);
    const name = fresh('frozen');
    const lock = await a.acquire(name, { ttlMs: 1500 });
    let last: RenewedEvent | undefined;
    lock.on('renewed', (e) => (last = e));
    await waitFor('a renewal', () => last, 3000);
    const lost = nextEvent<[bigint, LockLostError]>(lock, 'lost', 5000);
    // Taken as the client decides, not when this test gets to run again.
    let lostAt = NaN;
    lock.once('lost', () => (lostAt = performance.now()));
    for (const id of c.ids) c.pause(id);
    const frozenAt = performance.now();
    try {
      const [token, err] = await lost;
      expect(token).toBe(lock.fencingToken);
      expect(err.code).toBe(4); // DEADLINE_EXCEEDED: renewals went unanswered
      expect(lock.signal.aborted).toBe(true);
      // The server's clock for the lease starts when it handles a renewal, after we sent it:
      // the lease cannot expire before (send time of the last confirmed renewal) + TTL. Giving
      // the lock up before that is the client's safety promise, so this bound is the subject.
      expect(lostAt).toBeLessThan(last!.sentAt + 1500);
      expect(lostAt).toBeGreaterThan(frozenAt);
    } finally {
      for (const id of c.ids) c.resume(id);
    }
    await c.leader(20_000);
  });
});
