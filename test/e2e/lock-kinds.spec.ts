// Shared locks, semaphores and lock-delay on a real 3-node cluster (issue 17): the wire API
// through a follower (which forwards to the leader) and the SDK, and a lock-delay that outlives
// its leader.
import { LocalCluster } from '../support/cluster.js';
import { fresh, grpc, methods, type Methods, roles, track } from '../support/e2e.js';
import { EventType, expectCode, openWatch, syncWatch } from '../support/streams.js';
import { TIMED_OUT, waitFor, within } from '../../libs/testing/src/wait.js';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  QuorumLockClient,
} from '../../libs/client/src/index.js';

const SHARED = 1;
const EXCLUSIVE = 0;

describe('shared locks, semaphores and lock-delay (3-node cluster)', () => {
  const c = new LocalCluster();
  let F: Methods;
  const clients: QuorumLockClient[] = [];
  const client = (owner: string) => {
    const cl = new QuorumLockClient({ endpoints: c.endpoints(), owner });
    clients.push(cl);
    return cl;
  };

  beforeAll(async () => {
    await c.start();
    F = methods(c.api((await roles(c)).follower));
  }, 30_000);
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((cl) => cl.close()));
  });
  afterAll(() => c.stop());

  test('readers hold together; a writer queues behind them and holds back later readers; Describe lists every holder', async () => {
    const name = fresh('rw');
    const w = openWatch(F.api, name);
    try {
      await syncWatch(w, F.api, name);
      const r1 = await F.acquire({ name, owner: 'r1', mode: SHARED });
      const r2 = await F.acquire({ name, owner: 'r2', mode: SHARED });
      expect([r1.acquired, r2.acquired]).toEqual([true, true]);
      expect(r2.fencing_token).toBeGreaterThan(r1.fencing_token);
      const writer = track(F.acquire({ name, owner: 'w', wait_ms: 20_000 }));
      await waitFor('the writer to queue', async () => (await F.describe(name)).waiters === 1);
      // A reader after the queued writer waits too (no writer starvation); a try says who holds.
      expect(await F.acquire({ name, owner: 'r3', mode: SHARED })).toMatchObject({
        acquired: false,
        holder: 'r1',
      });
      const d = await F.describe(name);
      expect(d).toMatchObject({
        held: true,
        owner: 'r1',
        fencing_token: r1.fencing_token,
        mode: SHARED,
        limit: 1,
        waiters: 1,
      });
      expect(d.holders.map((h) => [h.owner, h.fencing_token, h.mode])).toEqual([
        ['r1', r1.fencing_token, SHARED],
        ['r2', r2.fencing_token, SHARED],
      ]);
      expect(d.holders.every((h) => h.remaining_ms > 0)).toBe(true);
      await F.release(r1.lease_id, name);
      expect(writer.settled()).toBe(false);
      await F.release(r2.lease_id, name);
      const g = await writer.promise;
      expect(g).toMatchObject({ acquired: true });
      expect(g.fencing_token).toBeGreaterThan(r2.fencing_token);
      expect(await F.describe(name)).toMatchObject({ owner: 'w', mode: EXCLUSIVE });
      const events = [await w.next(), await w.next(), await w.next()];
      expect(events.map((e) => [e.owner, e.type, e.mode])).toEqual([
        ['r1', EventType.ACQUIRED, SHARED],
        ['r2', EventType.ACQUIRED, SHARED],
        ['r1', EventType.RELEASED, SHARED],
      ]);
      await F.release(g.lease_id);
    } finally {
      await w.close();
    }
  });

  test('a semaphore admits up to its limit; another limit is FAILED_PRECONDITION naming both; bad kinds are INVALID_ARGUMENT (SDK)', async () => {
    const name = fresh('sem');
    const [a, b, x] = [client('a'), client('b'), client('x')];
    const la = await a.acquire(name, { limit: 2 });
    const lb = await b.acquire(name, { limit: 2 });
    expect(await x.tryAcquire(name, { limit: 2 })).toBeNull();
    const d = await x.describe(name);
    expect(d).toMatchObject({ held: true, owner: 'a', limit: 2, mode: 'exclusive' });
    expect(d.holders.map((h) => h.owner)).toEqual(['a', 'b']);
    const refused = await x.tryAcquire(name, { limit: 3 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(FailedPreconditionError);
    expect((refused as Error).message).toMatch(/limit 2.*limit 3/);
    await expectCode(
      F.acquire({ name, owner: 'x', mode: SHARED }),
      grpc.status.FAILED_PRECONDITION,
      'limit',
    );
    await expect(x.tryAcquire(name, { mode: 'shared', limit: 2 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(x.tryAcquire(name, { lockDelayMs: 60_001 })).rejects.toThrow(/lock_delay_ms/);
    // Once one holder leaves, a third fits; the semaphore keeps its limit while it is held.
    await la.release();
    const lx = await x.acquire(name, { limit: 2, waitMs: 5_000 });
    expect(lx.fencingToken).toBeGreaterThan(lb.fencingToken);
    await Promise.all([lb.release(), lx.release()]);
    expect((await x.describe(name)).held).toBe(false);
    // Free again: a new first holder sets a new limit.
    const solo = await x.acquire(name, { limit: 1 });
    expect(await a.tryAcquire(name)).toBeNull();
    await solo.release();
  });

  test('a holder that dies leaves its lock-delay, which outlives a leader change: the waiter is served after it, by the new leader', async () => {
    const name = fresh('delay');
    const gone = await F.acquire({ name, owner: 'gone', ttl_ms: 1_000, lock_delay_ms: 4_000 });
    expect(gone.acquired).toBe(true);
    const waiter = client('next');
    const next = track(waiter.acquire(name, { waitMs: 60_000, ttlMs: 10_000 }));
    await waitFor('the waiter to queue', async () => (await F.describe(name)).waiters === 1);
    // The holder never renews: its lease expires, and the name is delayed, not held.
    await waitFor('the delay to begin', async () => !(await F.describe(name)).held, 10_000);
    const d = await F.describe(name);
    expect(d).toMatchObject({ held: false, waiters: 1, holders: [] });
    expect(d.remaining_ms).toBeGreaterThan(0);
    expect(d.remaining_ms).toBeLessThanOrEqual(4_000);
    expect(next.settled()).toBe(false);
    const leader = await c.leader();
    await c.kill(leader);
    const lock = await within(next.promise, 30_000);
    if (lock === TIMED_OUT) throw new Error('the waiter was not granted within 30 s');
    expect(lock.fencingToken).toBeGreaterThan(BigInt(gone.fencing_token));
    expect((await waiter.describe(name)).owner).toBe('next');
    await lock.release();
    c.startNode(leader);
    await waitFor(
      'the restarted node to serve',
      async () => (await c.status(leader)).leader_id !== '',
    );
  }, 90_000);
});
