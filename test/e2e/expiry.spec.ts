// Lease expiry and renewal on a real 3-node cluster with the default timings (election timeout
// 150-300 ms, checkpoints every 5 s). These tests are about time passing, so they use short
// TTLs and bounded waits; the only sleeps are the pauses between renewals.
import { LocalCluster } from '../support/cluster.js';
import { expectAllUp, fresh, grpc, methods, type Methods, roles, track } from '../support/e2e.js';
import { EventType, expectCode, KeepAlive, openWatch, syncWatch } from '../support/streams.js';
import { sleep, waitFor } from '../../libs/testing/src/wait.js';

const LOST = 'lease expired or released: its locks are lost';
const TTL = 1_000;
/** TTL + election timeout + checkpoint interval, with room for a slow CI machine. */
const EXPIRY_BOUND = TTL + 6_000;

describe('lease expiry and renewal (3-node cluster)', () => {
  const c = new LocalCluster();
  let L: Methods;
  let F: Methods;

  beforeAll(async () => {
    await c.start();
    const r = await roles(c);
    L = methods(c.api(r.leader));
    F = methods(c.api(r.follower));
  }, 30_000);
  afterAll(() => c.stop());

  /** Waits until Describe shows the lock free; returns ms since `since`. */
  async function freed(name: string, since: number): Promise<number> {
    await waitFor(`${name} to be free`, async () => !(await F.describe(name)).held, EXPIRY_BOUND);
    return performance.now() - since;
  }

  test('a lease not renewed expires after its TTL and everything it holds is released, with EXPIRED events', async () => {
    const prefix = fresh('exp') + '/';
    const w = openWatch(F.api, prefix);
    try {
      await syncWatch(w, F.api, prefix);
      const [a, b, e] = [`${prefix}a`, `${prefix}b`, fresh('exp-e')];
      const started = performance.now();
      const g = await F.acquire({ name: a, owner: 'o', ttl_ms: TTL });
      expect(g.ttl_ms).toBe(TTL);
      const g2 = await F.acquire({ name: b, owner: 'o', lease_id: g.lease_id });
      await F.campaign({ election: e, candidate: 'o', lease_id: g.lease_id });

      const took = await freed(a, started);
      // Never before the TTL the client was promised; within the documented bound.
      expect(took).toBeGreaterThanOrEqual(TTL);
      expect(await F.describe(b)).toMatchObject({ held: false });
      expect(await F.leader(e)).toMatchObject({ has_leader: false });
      await expectCode(F.renew(g.lease_id), grpc.status.NOT_FOUND, LOST);

      const events = [await w.next(), await w.next(), await w.next(), await w.next()];
      expect(events.slice(0, 2)).toEqual([
        { name: a, type: EventType.ACQUIRED, owner: 'o', fencing_token: g.fencing_token, mode: 0 },
        { name: b, type: EventType.ACQUIRED, owner: 'o', fencing_token: g2.fencing_token, mode: 0 },
      ]);
      expect(events.slice(2).sort((x, y) => x.name.localeCompare(y.name))).toEqual([
        { name: a, type: EventType.EXPIRED, owner: 'o', fencing_token: g.fencing_token, mode: 0 },
        { name: b, type: EventType.EXPIRED, owner: 'o', fencing_token: g2.fencing_token, mode: 0 },
      ]);
    } finally {
      await w.close();
    }
  });

  test('Renew and Acquire on an expired lease are NOT_FOUND, at once even with wait_ms', async () => {
    const [name, held] = [fresh('expired-use'), fresh('expired-held')];
    const h = await F.acquire({ name: held, owner: 'holder' });
    const started = performance.now();
    const g = await F.acquire({ name, owner: 'o', ttl_ms: TTL });
    await freed(name, started);
    await expectCode(F.renew(g.lease_id), grpc.status.NOT_FOUND, LOST);
    // Queued, this call would wait 120 s, far past the test's timeout: NOT_FOUND must come first.
    await expectCode(
      F.acquire({ name: held, owner: 'o', lease_id: g.lease_id, wait_ms: 120_000 }, 125_000),
      grpc.status.NOT_FOUND,
      LOST,
    );
    await expectCode(F.acquire({ name, owner: 'o', lease_id: g.lease_id }), grpc.status.NOT_FOUND);
    expect(await F.describe(held)).toMatchObject({ owner: 'holder', waiters: 0 });
    await F.release(h.lease_id);
  }, 30_000);

  test('a lease renewed with Renew every TTL/3 never expires', async () => {
    // A TTL that leaves a loaded CI machine room for a renewal, a Describe and a pause between
    // two renewals: the subject is that renewals keep it, not how fast the machine is.
    const ttl = 3_000;
    const name = fresh('renewed');
    const g = await F.acquire({ name, owner: 'o', ttl_ms: ttl });
    const until = performance.now() + 3 * ttl;
    let i = 0;
    while (performance.now() < until) {
      await sleep(ttl / 3); // the client's renewal period: time passing is the subject here
      expect(await [F, L][i++ % 2]!.renew(g.lease_id)).toEqual({
        lease_id: g.lease_id,
        ttl_ms: ttl,
      });
      expect(await F.describe(name)).toMatchObject({
        held: true,
        owner: 'o',
        fencing_token: g.fencing_token,
      });
    }
    await F.release(g.lease_id);
  });

  test('a lease renewed on a KeepAlive stream never expires', async () => {
    const ttl = 3_000;
    const name = fresh('keepalive');
    const g = await F.acquire({ name, owner: 'o', ttl_ms: ttl });
    const k = new KeepAlive(F.api);
    try {
      const until = performance.now() + 3 * ttl;
      while (performance.now() < until) {
        k.renew(g.lease_id);
        expect(await k.next()).toEqual({ lease_id: g.lease_id, ttl_ms: ttl });
        expect(await L.describe(name)).toMatchObject({
          held: true,
          fencing_token: g.fencing_token,
        });
        await sleep(ttl / 3); // the client's renewal period
      }
    } finally {
      await k.close();
    }
    await F.release(g.lease_id);
  });

  test('KeepAlive of a lease that is gone ends the stream with NOT_FOUND', async () => {
    const g = await F.acquire({ name: fresh('ka-gone'), owner: 'o' });
    await F.release(g.lease_id);
    const k = new KeepAlive(L.api);
    try {
      k.renew(g.lease_id);
      const s = await k.end();
      expect(s.code).toBe(grpc.status.NOT_FOUND);
      expect(s.details).toBe(LOST);
    } finally {
      await k.close();
    }
  });

  test("a waiter is granted the lock when the holder's lease expires", async () => {
    const name = fresh('exp-handoff');
    const started = performance.now();
    const h = await F.acquire({ name, owner: 'holder', ttl_ms: TTL });
    const waiting = track(F.acquire({ name, owner: 'waiter', wait_ms: 20_000 }, 25_000));
    const g = await waiting.promise;
    expect(performance.now() - started).toBeGreaterThanOrEqual(TTL);
    expect(g).toMatchObject({ acquired: true, holder: 'waiter' });
    expect(g.fencing_token).toBeGreaterThan(h.fencing_token);
    expect(await F.describe(name)).toMatchObject({
      owner: 'waiter',
      fencing_token: g.fencing_token,
    });
    await F.release(g.lease_id);
  });

  test('a waiting Acquire keeps its own lease alive for as long as it waits', async () => {
    // The waiter cannot renew a lease it has not been told yet: the open call keeps it alive,
    // also past the leader's checkpoint of its remaining TTL (every 5 s).
    const name = fresh('long-wait');
    const h = await F.acquire({ name, owner: 'holder' });
    const waiting = track(F.acquire({ name, owner: 'waiter', ttl_ms: TTL, wait_ms: 20_000 }));
    await waitFor('the waiter to queue', async () => (await F.describe(name)).waiters === 1);
    await sleep(7_000); // longer than TTL + a checkpoint interval: time passing is the subject
    expect(waiting.settled()).toBe(false);
    expect(await F.describe(name)).toMatchObject({ owner: 'holder', waiters: 1 });
    await F.release(h.lease_id);
    expect(await waiting.promise).toMatchObject({ acquired: true, holder: 'waiter' });
    await F.release((await waiting.promise).lease_id);
  });

  test('no call above crashed a node', async () => {
    await expectAllUp(c);
  });
});
