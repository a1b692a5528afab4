// Leases, locks, fencing tokens, the wait queue, idempotent retries and Watch, on a real 3-node
// cluster. Calls go to a follower unless the test is about the leader: followers forward.
import { LocalCluster } from '../support/cluster.js';
import {
  expectAllUp,
  fresh,
  grpc,
  methods,
  type Methods,
  roles,
  track,
  unknownLeaseId,
} from '../support/e2e.js';
import { EventType, expectCode, openWatch, syncWatch } from '../support/streams.js';
import { waitFor } from '../../libs/testing/src/wait.js';

const LOST = 'lease expired or released: its locks are lost';

describe('locks and leases (3-node cluster)', () => {
  const c = new LocalCluster();
  let L: Methods; // the leader
  let F: Methods; // a follower

  beforeAll(async () => {
    await c.start();
    const r = await roles(c);
    L = methods(c.api(r.leader));
    F = methods(c.api(r.follower));
  }, 30_000);
  afterAll(() => c.stop());

  describe('leases', () => {
    test('Acquire without lease_id creates a lease; passing it on holds more locks and elections on the one lease', async () => {
      const [a, b, e] = [fresh('lease-a'), fresh('lease-b'), fresh('lease-e')];
      const first = await F.acquire({ name: a, owner: 'o1' });
      expect(first).toMatchObject({ acquired: true, holder: 'o1', ttl_ms: 15_000 });
      expect(first.lease_id).toMatch(/^[0-9a-f]+$/);

      const second = await F.acquire({ name: b, owner: 'o1', lease_id: first.lease_id });
      expect(second).toMatchObject({ acquired: true, lease_id: first.lease_id });
      const third = await F.campaign({ election: e, candidate: 'o1', lease_id: first.lease_id });
      expect(third).toMatchObject({ elected: true, lease_id: first.lease_id });

      expect(await F.describe(a)).toMatchObject({ held: true, owner: 'o1' });
      expect(await F.describe(b)).toMatchObject({ held: true, owner: 'o1' });
      expect(await F.leader(e)).toMatchObject({ has_leader: true, candidate: 'o1' });
      await F.release(first.lease_id);
    });

    test('Renew answers the granted TTL and keeps every lock of the lease with the same token', async () => {
      const [a, b] = [fresh('renew-a'), fresh('renew-b')];
      const g1 = await F.acquire({ name: a, owner: 'o', ttl_ms: 5_000 });
      const g2 = await F.acquire({ name: b, owner: 'o', lease_id: g1.lease_id });
      expect(await F.renew(g1.lease_id)).toEqual({ lease_id: g1.lease_id, ttl_ms: 5_000 });
      expect(await L.renew(g1.lease_id)).toEqual({ lease_id: g1.lease_id, ttl_ms: 5_000 });
      expect(await F.describe(a)).toMatchObject({ held: true, fencing_token: g1.fencing_token });
      expect(await F.describe(b)).toMatchObject({ held: true, fencing_token: g2.fencing_token });
      await F.release(g1.lease_id);
    });

    test('Release with an empty name releases the lease and every lock and election it holds', async () => {
      const [a, b, e] = [fresh('rel-all-a'), fresh('rel-all-b'), fresh('rel-all-e')];
      const g = await F.acquire({ name: a, owner: 'o' });
      await F.acquire({ name: b, owner: 'o', lease_id: g.lease_id });
      await F.campaign({ election: e, candidate: 'o', lease_id: g.lease_id });

      expect(await F.release(g.lease_id, '')).toEqual({ released: true });
      expect(await F.describe(a)).toMatchObject({ held: false, owner: '', fencing_token: 0 });
      expect(await F.describe(b)).toMatchObject({ held: false });
      expect(await F.leader(e)).toMatchObject({ has_leader: false });
      // The lock is free for anyone now.
      const other = await F.acquire({ name: a, owner: 'p' });
      expect(other.acquired).toBe(true);
      await F.release(other.lease_id);
    });

    test('releasing one lock keeps the lease and its other locks', async () => {
      const [a, b] = [fresh('rel-one-a'), fresh('rel-one-b')];
      const g = await F.acquire({ name: a, owner: 'o' });
      const g2 = await F.acquire({ name: b, owner: 'o', lease_id: g.lease_id });
      expect(await F.release(g.lease_id, a)).toEqual({ released: true });
      expect(await F.describe(a)).toMatchObject({ held: false });
      expect(await F.describe(b)).toMatchObject({ held: true, fencing_token: g2.fencing_token });
      expect(await F.renew(g.lease_id)).toMatchObject({ lease_id: g.lease_id });
      await F.release(g.lease_id);
    });

    test('Renew of an unknown lease is NOT_FOUND, whatever the id looks like', async () => {
      for (const id of [unknownLeaseId(), 'no-such-lease', 'LEASE 1', '✗'])
        for (const via of [F, L]) await expectCode(via.renew(id), grpc.status.NOT_FOUND, LOST);
    });

    test('Renew of a released lease is NOT_FOUND', async () => {
      const g = await F.acquire({ name: fresh('renew-released'), owner: 'o' });
      await F.release(g.lease_id);
      await expectCode(F.renew(g.lease_id), grpc.status.NOT_FOUND, LOST);
    });

    test('Acquire with an unknown lease_id is NOT_FOUND and grants nothing', async () => {
      const name = fresh('acq-unknown-lease');
      for (const lease_id of [unknownLeaseId(), 'no-such-lease'])
        await expectCode(F.acquire({ name, owner: 'o', lease_id }), grpc.status.NOT_FOUND, LOST);
      expect(await F.describe(name)).toMatchObject({ held: false });
    });

    test('Release by a lease that does not hold the lock answers released=false and changes nothing', async () => {
      const [x, y] = [fresh('not-mine-x'), fresh('not-mine-y')];
      const holder = await F.acquire({ name: x, owner: 'holder' });
      const other = await F.acquire({ name: y, owner: 'other' });
      expect(await F.release(other.lease_id, x)).toEqual({ released: false });
      expect(await F.release(unknownLeaseId(), x)).toEqual({ released: false });
      expect(await F.release('no-such-lease', x)).toEqual({ released: false });
      expect(await F.release('no-such-lease', '')).toEqual({ released: false });
      expect(await F.describe(x)).toMatchObject({
        held: true,
        owner: 'holder',
        fencing_token: holder.fencing_token,
      });
      expect(await F.describe(y)).toMatchObject({ held: true, owner: 'other' });
      await F.release(holder.lease_id);
      await F.release(other.lease_id);
    });

    test('releasing twice is not an error: the second Release answers released=false', async () => {
      const [name, other] = [fresh('twice'), fresh('twice-other')];
      const g = await F.acquire({ name, owner: 'o' });
      await F.acquire({ name: other, owner: 'o', lease_id: g.lease_id }); // keeps the lease
      expect(await F.release(g.lease_id, name)).toEqual({ released: true });
      expect(await F.release(g.lease_id, name)).toEqual({ released: false });
      expect(await F.release(g.lease_id)).toEqual({ released: true });
      expect(await F.release(g.lease_id)).toEqual({ released: false });
      expect(await F.release(g.lease_id, name)).toEqual({ released: false });
    });
  });

  describe('fencing tokens', () => {
    test('a grant returns the Raft log index it was applied at', async () => {
      const name = fresh('token-index');
      const before = await L.status();
      const g = await F.acquire({ name, owner: 'o' });
      const after = await L.status();
      // Applied after the call started and before it answered.
      expect(g.fencing_token).toBeGreaterThan(before.commit_index);
      expect(g.fencing_token).toBeLessThanOrEqual(after.commit_index);
      expect(g.fencing_token).toBeLessThanOrEqual(after.applied_index);
      expect(await F.describe(name)).toMatchObject({ fencing_token: g.fencing_token });
      await F.release(g.lease_id);
    });

    test('tokens strictly increase across every grant of a lock: re-acquire, other leases, hand-off to a waiter', async () => {
      const name = fresh('token-increase');
      const tokens: number[] = [];
      for (let i = 0; i < 4; i++) {
        const g = await (i % 2 ? L : F).acquire({ name, owner: `o${i}` });
        expect(g.acquired).toBe(true);
        tokens.push(g.fencing_token);
        await F.release(g.lease_id, name);
      }
      // Hand-off: the waiter is granted by the holder's release, at the release's index.
      const h = await F.acquire({ name, owner: 'holder' });
      tokens.push(h.fencing_token);
      const waiter = F.acquire({ name, owner: 'waiter', wait_ms: 10_000 });
      await waitFor('the waiter to queue', async () => (await F.describe(name)).waiters === 1);
      const rel = F.release(h.lease_id, name);
      const w = await waiter;
      await rel;
      expect(w.acquired).toBe(true);
      tokens.push(w.fencing_token);
      // The same lease re-acquiring after a release gets a new, larger token too.
      await F.release(w.lease_id, name);
      const again = await F.acquire({ name, owner: 'waiter', lease_id: w.lease_id });
      tokens.push(again.fencing_token);
      await F.release(w.lease_id);

      for (const [i, t] of tokens.entries()) if (i > 0) expect(t).toBeGreaterThan(tokens[i - 1]!);
    });
  });

  describe('try-lock and timed waits', () => {
    test('try-lock (wait_ms = 0) on a held lock answers acquired=false and the holder', async () => {
      const name = fresh('try');
      const h = await F.acquire({ name, owner: 'holder' });
      const t = await F.acquire({ name, owner: 'trier' });
      expect(t).toMatchObject({ acquired: false, holder: 'holder', fencing_token: 0 });
      expect(await F.describe(name)).toMatchObject({
        held: true,
        owner: 'holder',
        fencing_token: h.fencing_token,
        waiters: 0,
      });
      await F.release(h.lease_id);
    });

    test('a wait that times out answers acquired=false and the holder, and leaves the queue', async () => {
      const name = fresh('timeout');
      const h = await F.acquire({ name, owner: 'holder' });
      const started = performance.now();
      const waiting = track(F.acquire({ name, owner: 'waiter', wait_ms: 1_000 }));
      await waitFor('the waiter to queue', async () => (await F.describe(name)).waiters === 1);
      const r = await waiting.promise;
      expect(performance.now() - started).toBeGreaterThanOrEqual(1_000);
      expect(r).toMatchObject({ acquired: false, holder: 'holder', fencing_token: 0 });
      expect(await F.describe(name)).toMatchObject({
        held: true,
        owner: 'holder',
        fencing_token: h.fencing_token,
        waiters: 0,
      });
      await F.release(h.lease_id);
    });

    test('a wait is granted as soon as the holder releases', async () => {
      const name = fresh('wait-granted');
      const h = await F.acquire({ name, owner: 'holder' });
      const waiting = track(F.acquire({ name, owner: 'waiter', wait_ms: 20_000, ttl_ms: 4_000 }));
      await waitFor('the waiter to queue', async () => (await F.describe(name)).waiters === 1);
      expect(waiting.settled()).toBe(false);
      await F.release(h.lease_id, name);
      const w = await waiting.promise;
      expect(w).toMatchObject({ acquired: true, holder: 'waiter', ttl_ms: 4_000 });
      expect(w.lease_id).not.toBe(h.lease_id);
      expect(w.fencing_token).toBeGreaterThan(h.fencing_token);
      expect(await F.describe(name)).toMatchObject({
        owner: 'waiter',
        fencing_token: w.fencing_token,
        waiters: 0,
      });
      await F.release(w.lease_id);
      await F.release(h.lease_id);
    });
  });

  describe('wait queue', () => {
    test('waiters are granted in FIFO order and one release wakes exactly one', async () => {
      const name = fresh('fifo');
      const h = await F.acquire({ name, owner: 'holder' });
      const waiters = [];
      for (let i = 0; i < 3; i++) {
        // Through different nodes; each queues only after the previous one did.
        const via = [F, L][i % 2]!;
        waiters.push(track(via.acquire({ name, owner: `w${i}`, wait_ms: 30_000 }, 40_000)));
        await waitFor(`w${i} to queue`, async () => (await F.describe(name)).waiters === i + 1);
      }
      let prev = h;
      for (let i = 0; i < 3; i++) {
        await F.release(prev.lease_id, name);
        const g = await waiters[i]!.promise;
        expect(g).toMatchObject({ acquired: true, holder: `w${i}` });
        expect(g.fencing_token).toBeGreaterThan(prev.fencing_token);
        // Linearizable: the release is applied, and it woke exactly one waiter.
        expect(await F.describe(name)).toMatchObject({
          held: true,
          owner: `w${i}`,
          fencing_token: g.fencing_token,
          waiters: 2 - i,
        });
        for (const later of waiters.slice(i + 1)) expect(later.settled()).toBe(false);
        prev = g;
      }
      await F.release(prev.lease_id, name);
      expect(await F.describe(name)).toMatchObject({ held: false, waiters: 0 });
      await F.release(h.lease_id);
      for (const w of waiters) await F.release((await w.promise).lease_id);
    });

    test('a waiter whose lease is released while it waits is answered NOT_FOUND at once and never granted', async () => {
      const [name, other] = [fresh('lost-waiter'), fresh('lost-waiter-other')];
      const h = await F.acquire({ name, owner: 'holder' });
      const lease = await F.acquire({ name: other, owner: 'waiter' });
      // It would wait 120 s, far past this test's timeout: only the release can end it.
      const waiting = track(
        F.acquire({ name, owner: 'waiter', wait_ms: 120_000, lease_id: lease.lease_id }, 125_000),
      );
      await waitFor('the waiter to queue', async () => (await F.describe(name)).waiters === 1);
      await F.release(lease.lease_id);
      await expectCode(waiting.promise, grpc.status.NOT_FOUND, LOST);
      expect(await F.describe(name)).toMatchObject({ owner: 'holder', waiters: 0 });
      await F.release(h.lease_id, name);
      expect(await F.describe(name)).toMatchObject({ held: false, waiters: 0 });
      await F.release(h.lease_id);
    }, 30_000);
  });

  describe('idempotent retries', () => {
    test('a retried Acquire with the same request_id returns the same grant, through any node', async () => {
      const name = fresh('retry');
      const req = { name, owner: 'o', request_id: fresh('req') };
      const g = await F.acquire(req);
      expect(g.acquired).toBe(true);
      for (const via of [F, L]) expect(await via.acquire(req)).toEqual(g);
      expect(await F.describe(name)).toMatchObject({ fencing_token: g.fencing_token });
      // The retry did not make a second lease hold it: releasing the one lease frees it.
      await F.release(g.lease_id);
      expect(await F.describe(name)).toMatchObject({ held: false });
    });

    test('a retried waiting Acquire with the same request_id resumes the same queue entry', async () => {
      const name = fresh('retry-wait');
      const h = await F.acquire({ name, owner: 'holder' });
      const req = { name, owner: 'w', request_id: fresh('req'), wait_ms: 20_000 };
      const first = track(F.acquire(req));
      await waitFor('the waiter to queue', async () => (await F.describe(name)).waiters === 1);
      const retry = track(L.acquire(req));
      // The retry superseded the first call (which may now fail) and joined its entry.
      await waitFor('the first call to end', () => first.settled());
      expect(await F.describe(name)).toMatchObject({ owner: 'holder', waiters: 1 });
      expect(retry.settled()).toBe(false);

      await F.release(h.lease_id);
      const g = await retry.promise;
      expect(g).toMatchObject({ acquired: true, holder: 'w' });
      expect(await F.describe(name)).toMatchObject({
        owner: 'w',
        fencing_token: g.fencing_token,
        waiters: 0,
      });
      // And once granted, the same request_id answers the same grant.
      expect(await F.acquire(req)).toEqual(g);
      await F.release(g.lease_id);
    });

    test('the same request_id sent for another lock or an election is another request, not a retry', async () => {
      const [a, b, e] = [fresh('rid-a'), fresh('rid-b'), fresh('rid-e')];
      const request_id = fresh('shared-req');
      const ga = await F.acquire({ name: a, owner: 'o', request_id });
      const gb = await F.acquire({ name: b, owner: 'o', request_id });
      const ge = await F.campaign({ election: e, candidate: 'o', request_id });
      expect(ga.acquired && gb.acquired && ge.elected).toBe(true);
      expect(new Set([ga.lease_id, gb.lease_id, ge.lease_id]).size).toBe(3);
      expect(await F.describe(a)).toMatchObject({ held: true, fencing_token: ga.fencing_token });
      expect(await F.describe(b)).toMatchObject({ held: true, fencing_token: gb.fencing_token });
      expect(await F.leader(e)).toMatchObject({
        has_leader: true,
        fencing_token: ge.fencing_token,
      });
      // Each is still idempotent on its own.
      expect(await L.acquire({ name: b, owner: 'o', request_id })).toEqual(gb);
      expect(await L.campaign({ election: e, candidate: 'o', request_id })).toEqual(ge);
      for (const g of [ga, gb, ge]) await F.release(g.lease_id);
    });

    test('Acquire with the lease_id of a lease already queued for the lock: a try answers not acquired, a wait resumes the entry', async () => {
      const [name, other] = [fresh('queued-lease'), fresh('queued-lease-other')];
      const h = await F.acquire({ name, owner: 'holder' });
      const lease = await F.acquire({ name: other, owner: 'w' });
      const first = track(
        F.acquire({ name, owner: 'w', lease_id: lease.lease_id, wait_ms: 20_000 }, 25_000),
      );
      await waitFor('the waiter to queue', async () => (await F.describe(name)).waiters === 1);
      // The lease is alive and queued: not NOT_FOUND, and the entry stays.
      expect(await L.acquire({ name, owner: 'w', lease_id: lease.lease_id })).toMatchObject({
        acquired: false,
        holder: 'holder',
      });
      expect(await F.describe(name)).toMatchObject({ owner: 'holder', waiters: 1 });
      expect(first.settled()).toBe(false);
      // Waiting again with the lease takes the entry over (the first call is told to retry).
      const second = track(
        L.acquire({ name, owner: 'w', lease_id: lease.lease_id, wait_ms: 20_000 }, 25_000),
      );
      await expectCode(first.promise, grpc.status.UNAVAILABLE);
      expect(await F.describe(name)).toMatchObject({ owner: 'holder', waiters: 1 });
      await F.release(h.lease_id);
      expect(await second.promise).toMatchObject({ acquired: true, lease_id: lease.lease_id });
      expect(await F.describe(name)).toMatchObject({ owner: 'w', waiters: 0 });
      await F.release(lease.lease_id);
    });

    test('Acquire with the lease_id of a lease that already holds the lock returns the existing grant', async () => {
      const name = fresh('held-by-lease');
      const g = await F.acquire({ name, owner: 'o' });
      const again = await L.acquire({ name, owner: 'o', lease_id: g.lease_id });
      expect(again).toMatchObject({
        acquired: true,
        lease_id: g.lease_id,
        fencing_token: g.fencing_token,
        ttl_ms: g.ttl_ms,
      });
      expect(await F.describe(name)).toMatchObject({ fencing_token: g.fencing_token });
      await F.release(g.lease_id);
    });
  });

  describe('Describe', () => {
    test('Describe of a free lock answers held=false; of a held one the owner, token, remaining TTL and waiters', async () => {
      const name = fresh('describe');
      expect(await F.describe(name)).toEqual({
        held: false,
        owner: '',
        fencing_token: 0,
        remaining_ms: 0,
        waiters: 0,
        mode: 0,
        limit: 0,
        holders: [],
      });
      const g = await F.acquire({ name, owner: 'o', ttl_ms: 10_000 });
      const d = await F.describe(name);
      expect(d).toMatchObject({ held: true, owner: 'o', fencing_token: g.fencing_token });
      expect(d.remaining_ms).toBeGreaterThan(5_000);
      expect(d.remaining_ms).toBeLessThanOrEqual(10_000);
      await F.release(g.lease_id);
    });
  });

  describe('Watch', () => {
    test('Watch sends ACQUIRED and RELEASED with owner and token, in log order, including hand-offs', async () => {
      const prefix = fresh('watch') + '/';
      const w = openWatch(F.api, prefix);
      try {
        await syncWatch(w, F.api, prefix);
        const a = `${prefix}a`;
        const h = await L.acquire({ name: a, owner: 'h' });
        const waiter = F.acquire({ name: a, owner: 'w', wait_ms: 10_000 });
        await waitFor('the waiter to queue', async () => (await F.describe(a)).waiters === 1);
        await L.release(h.lease_id);
        const g = await waiter;
        await F.release(g.lease_id, a);

        const got = [await w.next(), await w.next(), await w.next(), await w.next()];
        expect(got).toEqual([
          {
            name: a,
            type: EventType.ACQUIRED,
            owner: 'h',
            fencing_token: h.fencing_token,
            mode: 0,
          },
          {
            name: a,
            type: EventType.RELEASED,
            owner: 'h',
            fencing_token: h.fencing_token,
            mode: 0,
          },
          {
            name: a,
            type: EventType.ACQUIRED,
            owner: 'w',
            fencing_token: g.fencing_token,
            mode: 0,
          },
          {
            name: a,
            type: EventType.RELEASED,
            owner: 'w',
            fencing_token: g.fencing_token,
            mode: 0,
          },
        ]);
        await F.release(g.lease_id);
      } finally {
        await w.close();
      }
    });

    test('Watch sends only events of locks whose name starts with the prefix', async () => {
      const prefix = fresh('wprefix') + '/';
      const w = openWatch(L.api, prefix);
      try {
        await syncWatch(w, L.api, prefix);
        const outside = await F.acquire({ name: fresh('wprefix-outside'), owner: 'x' });
        const elsewhere = await F.acquire({ name: `x${prefix}in`, owner: 'x' });
        const inside = await F.acquire({ name: `${prefix}in`, owner: 'y' });
        await F.release(outside.lease_id);
        await F.release(elsewhere.lease_id);
        await F.release(inside.lease_id);
        expect(await w.next()).toEqual({
          name: `${prefix}in`,
          type: EventType.ACQUIRED,
          owner: 'y',
          fencing_token: inside.fencing_token,
          mode: 0,
        });
        expect(await w.next()).toMatchObject({ name: `${prefix}in`, type: EventType.RELEASED });
        // A last event under the prefix: nothing else was sent before it.
        const last = await F.acquire({ name: `${prefix}last`, owner: 'z' });
        expect(await w.next()).toMatchObject({ name: `${prefix}last`, owner: 'z' });
        await F.release(last.lease_id);
      } finally {
        await w.close();
      }
    });

    test('Watch on a leader and on a follower see the same events in the same order', async () => {
      const prefix = fresh('wboth') + '/';
      const wl = openWatch(L.api, prefix);
      const wf = openWatch(F.api, prefix);
      try {
        await syncWatch(wl, L.api, prefix);
        await syncWatch(wf, F.api, prefix);
        const grants = await Promise.all(
          [0, 1, 2, 3, 4].map((i) =>
            [L, F][i % 2]!.acquire({ name: `${prefix}${i % 2}`, owner: `o${i}` }),
          ),
        );
        for (const g of grants) if (g.acquired) await F.release(g.lease_id);
        const n = grants.filter((g) => g.acquired).length * 2;
        const fromLeader = [];
        const fromFollower = [];
        for (let i = 0; i < n; i++) fromLeader.push(await wl.next());
        for (let i = 0; i < n; i++) fromFollower.push(await wf.next());
        expect(fromFollower).toEqual(fromLeader);
      } finally {
        await wl.close();
        await wf.close();
      }
    });
  });

  test('no call above crashed a node', async () => {
    await expectAllUp(c);
  });
});
