// Leader elections (Campaign, Proclaim, Resign, Leader, Observe) on a real 3-node cluster.
import { LocalCluster } from '../support/cluster.js';
import {
  expectAllUp,
  fresh,
  grpc,
  methods,
  type Methods,
  roles,
  stateGauge,
  track,
  unknownLeaseId,
} from '../support/e2e.js';
import { expectCode, type LeaderResponse, openObserve } from '../support/streams.js';
import { waitFor } from '../../libs/testing/src/wait.js';

const NO_LEADER: LeaderResponse = { has_leader: false, candidate: '', value: '', fencing_token: 0 };

describe('elections (3-node cluster)', () => {
  const c = new LocalCluster();
  let follower: string;
  let L: Methods;
  let F: Methods;

  beforeAll(async () => {
    await c.start();
    const r = await roles(c);
    follower = r.follower;
    L = methods(c.api(r.leader));
    F = methods(c.api(r.follower));
  }, 30_000);
  afterAll(() => c.stop());

  /** Candidates queued in all elections: elections have no Describe, the metrics show it. */
  const queued = () => stateGauge(c, follower, 'lock_waiters', { kind: 'election' });

  test('Campaign elects the first candidate, with a fencing token and the granted TTL', async () => {
    const e = fresh('first');
    expect(await F.leader(e)).toEqual(NO_LEADER);
    const g = await F.campaign({
      election: e,
      candidate: 'alice',
      value: 'http://a',
      ttl_ms: 5_000,
    });
    expect(g).toMatchObject({ elected: true, ttl_ms: 5_000 });
    expect(g.lease_id).toMatch(/^[0-9a-f]+$/);
    expect(g.fencing_token).toBeGreaterThan(0);
    const expected = {
      has_leader: true,
      candidate: 'alice',
      value: 'http://a',
      fencing_token: g.fencing_token,
    };
    expect(await F.leader(e)).toEqual(expected);
    expect(await L.leader(e)).toEqual(expected);
    await F.release(g.lease_id);
  });

  test('a second candidate without wait_ms is not elected and the leader stays', async () => {
    const e = fresh('second-try');
    const g = await F.campaign({ election: e, candidate: 'alice' });
    const second = await F.campaign({ election: e, candidate: 'bob' });
    expect(second).toMatchObject({ elected: false, fencing_token: 0 });
    expect(await F.leader(e)).toMatchObject({ candidate: 'alice', fencing_token: g.fencing_token });
    await F.release(g.lease_id);
  });

  test('a second candidate with wait_ms waits, and is elected when the first resigns', async () => {
    const e = fresh('handover');
    const first = await F.campaign({ election: e, candidate: 'alice', value: 'a' });
    const before = await queued();
    const second = track(
      L.campaign({ election: e, candidate: 'bob', value: 'b', wait_ms: 20_000 }, 25_000),
    );
    await waitFor('bob to queue', async () => (await queued()) === before + 1);
    expect(second.settled()).toBe(false);
    expect(await F.leader(e)).toMatchObject({ candidate: 'alice' });
    expect(await F.resign(e, first.lease_id)).toEqual({ resigned: true });
    const g = await second.promise;
    expect(g.elected).toBe(true);
    expect(g.fencing_token).toBeGreaterThan(first.fencing_token);
    expect(await F.leader(e)).toEqual({
      has_leader: true,
      candidate: 'bob',
      value: 'b',
      fencing_token: g.fencing_token,
    });
    await F.release(first.lease_id);
    await F.release(g.lease_id);
  });

  test("a waiting candidate is elected when the leader's lease expires", async () => {
    const e = fresh('expire');
    const started = performance.now();
    const first = await F.campaign({ election: e, candidate: 'alice', ttl_ms: 1_000 });
    const g = await F.campaign({ election: e, candidate: 'bob', wait_ms: 15_000 }, 20_000);
    // alice's lease was never renewed: it expired no earlier than its TTL.
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(g.elected).toBe(true);
    expect(g.fencing_token).toBeGreaterThan(first.fencing_token);
    expect(await F.leader(e)).toMatchObject({ candidate: 'bob', fencing_token: g.fencing_token });
    await F.release(g.lease_id);
  });

  test('Proclaim by the leader changes the value seen by Leader, keeping candidate and token', async () => {
    const e = fresh('proclaim');
    const g = await F.campaign({ election: e, candidate: 'alice', value: 'v1' });
    expect(await F.proclaim(e, g.lease_id, 'v2')).toEqual({});
    const expected = {
      has_leader: true,
      candidate: 'alice',
      value: 'v2',
      fencing_token: g.fencing_token,
    };
    expect(await F.leader(e)).toEqual(expected);
    expect(await L.leader(e)).toEqual(expected);
    expect(await L.proclaim(e, g.lease_id, '')).toEqual({});
    expect(await F.leader(e)).toMatchObject({ value: '', candidate: 'alice' });
    await F.release(g.lease_id);
  });

  test('Proclaim by a lease that is not the leader is FAILED_PRECONDITION and changes nothing', async () => {
    const e = fresh('proclaim-not-leader');
    const g = await F.campaign({ election: e, candidate: 'alice', value: 'v1' });
    const waiter = track(F.campaign({ election: e, candidate: 'bob', wait_ms: 20_000 }, 25_000));
    const other = await F.acquire({ name: fresh('proclaim-other-lock'), owner: 'carol' });
    await expectCode(F.proclaim(e, other.lease_id, 'x'), grpc.status.FAILED_PRECONDITION);
    await expectCode(L.proclaim(e, unknownLeaseId(), 'x'), grpc.status.FAILED_PRECONDITION);
    await expectCode(F.proclaim(e, 'no-such-lease', 'x'), grpc.status.FAILED_PRECONDITION);
    await expectCode(
      F.proclaim(fresh('no-such-election'), g.lease_id, 'x'),
      grpc.status.FAILED_PRECONDITION,
    );
    expect(await F.leader(e)).toMatchObject({ candidate: 'alice', value: 'v1' });
    // After resigning, the former leader may no longer proclaim either.
    await F.resign(e, g.lease_id);
    const bob = await waiter.promise;
    await expectCode(F.proclaim(e, g.lease_id, 'x'), grpc.status.FAILED_PRECONDITION);
    expect(await F.leader(e)).toMatchObject({ candidate: 'bob', value: '' });
    for (const l of [g, bob, other]) await F.release(l.lease_id);
  });

  test('Resign answers resigned=true, and resigned=false the second time', async () => {
    const e = fresh('resign');
    const g = await F.campaign({ election: e, candidate: 'alice' });
    await F.acquire({ name: fresh('resign-keep'), owner: 'alice', lease_id: g.lease_id });
    expect(await F.resign(e, g.lease_id)).toEqual({ resigned: true });
    expect(await F.leader(e)).toEqual(NO_LEADER);
    expect(await F.resign(e, g.lease_id)).toEqual({ resigned: false });
    expect(await L.resign(e, unknownLeaseId())).toEqual({ resigned: false });
    expect(await F.resign(e, 'no-such-lease')).toEqual({ resigned: false });
    // Resigning keeps the lease: it can campaign again, with a new, larger token.
    const again = await F.campaign({ election: e, candidate: 'alice', lease_id: g.lease_id });
    expect(again).toMatchObject({ elected: true, lease_id: g.lease_id });
    expect(again.fencing_token).toBeGreaterThan(g.fencing_token);
    await F.release(g.lease_id);
  });

  test('a waiting candidate that resigns leaves the queue, and its Campaign ends at once, not elected', async () => {
    const e = fresh('resign-waiting');
    const first = await F.campaign({ election: e, candidate: 'alice' });
    const bobLease = await F.acquire({ name: fresh('bob-lock'), owner: 'bob' });
    const before = await queued();
    // bob would wait 120 s, far past this test's timeout: only the resign can end his call.
    const bob = track(
      F.campaign(
        { election: e, candidate: 'bob', lease_id: bobLease.lease_id, wait_ms: 120_000 },
        125_000,
      ),
    );
    await waitFor('bob to queue', async () => (await queued()) === before + 1);
    expect(bob.settled()).toBe(false);
    expect(await L.resign(e, bobLease.lease_id)).toEqual({ resigned: true });
    expect(await bob.promise).toMatchObject({ elected: false, fencing_token: 0 });
    await waitFor('bob to leave the queue', async () => (await queued()) === before);
    // bob's lease is alive; alice still leads, and nobody is queued behind her any more.
    expect(await F.renew(bobLease.lease_id)).toMatchObject({ lease_id: bobLease.lease_id });
    await F.resign(e, first.lease_id);
    expect(await F.leader(e)).toEqual(NO_LEADER);
    for (const l of [first, bobLease]) await F.release(l.lease_id);
  }, 30_000);

  test('a retried Campaign with the same request_id returns the same grant', async () => {
    const e = fresh('retry');
    const req = { election: e, candidate: 'alice', request_id: fresh('req') };
    const g = await F.campaign(req);
    expect(g.elected).toBe(true);
    expect(await L.campaign(req)).toEqual(g);
    expect(await F.campaign(req)).toEqual(g);
    expect(await F.leader(e)).toMatchObject({ fencing_token: g.fencing_token });
    await F.release(g.lease_id);
    expect(await F.leader(e)).toEqual(NO_LEADER);
  });

  test('Campaign with the lease of the current leader returns the existing grant', async () => {
    const e = fresh('same-lease');
    const g = await F.campaign({ election: e, candidate: 'alice' });
    const again = await L.campaign({ election: e, candidate: 'alice', lease_id: g.lease_id });
    expect(again).toMatchObject({
      elected: true,
      lease_id: g.lease_id,
      fencing_token: g.fencing_token,
    });
    await F.release(g.lease_id);
  });

  test('an election and a lock of the same name are independent', async () => {
    const name = fresh('shared-name');
    const lock = await F.acquire({ name, owner: 'locker' });
    const g = await F.campaign({ election: name, candidate: 'alice' });
    expect(g.elected).toBe(true);
    expect(await F.describe(name)).toMatchObject({ owner: 'locker' });
    await F.resign(name, g.lease_id);
    expect(await F.describe(name)).toMatchObject({ held: true, owner: 'locker' });
    for (const l of [lock, g]) await F.release(l.lease_id);
  });

  describe('Observe', () => {
    test('sends the current state first, then every change: elected, proclaimed, no leader', async () => {
      const e = fresh('observe');
      const g = await F.campaign({ election: e, candidate: 'alice', value: 'v1' });
      const o = openObserve(F.api, e);
      try {
        expect(await o.next()).toEqual({
          has_leader: true,
          candidate: 'alice',
          value: 'v1',
          fencing_token: g.fencing_token,
        });
        await L.proclaim(e, g.lease_id, 'v2');
        expect(await o.next()).toMatchObject({ candidate: 'alice', value: 'v2' });
        const bob = track(
          F.campaign({ election: e, candidate: 'bob', value: 'b', wait_ms: 20_000 }),
        );
        await F.resign(e, g.lease_id);
        const gb = await bob.promise;
        expect(await o.next()).toEqual({
          has_leader: true,
          candidate: 'bob',
          value: 'b',
          fencing_token: gb.fencing_token,
        });
        await F.release(gb.lease_id);
        expect(await o.next()).toEqual(NO_LEADER);
        await F.release(g.lease_id);
      } finally {
        await o.close();
      }
    });

    test('of an election without a leader sends has_leader=false first, then the election', async () => {
      const e = fresh('observe-empty');
      const o = openObserve(L.api, e);
      try {
        expect(await o.next()).toEqual(NO_LEADER);
        const g = await F.campaign({ election: e, candidate: 'alice', value: 'x' });
        expect(await o.next()).toEqual({
          has_leader: true,
          candidate: 'alice',
          value: 'x',
          fencing_token: g.fencing_token,
        });
        await F.release(g.lease_id);
        expect(await o.next()).toEqual(NO_LEADER);
      } finally {
        await o.close();
      }
    });

    test("reports the leader's lease expiring as has_leader=false", async () => {
      const e = fresh('observe-expire');
      const o = openObserve(F.api, e);
      try {
        expect(await o.next()).toEqual(NO_LEADER);
        const g = await L.campaign({ election: e, candidate: 'alice', ttl_ms: 1_000 });
        expect(await o.next()).toMatchObject({ has_leader: true, fencing_token: g.fencing_token });
        // Not renewed: expires within TTL + election timeout + checkpoint interval.
        expect(await o.next(7_000)).toEqual(NO_LEADER);
      } finally {
        await o.close();
      }
    });

    test('other elections’ changes are not sent', async () => {
      const e = fresh('observe-mine');
      const o = openObserve(F.api, e);
      try {
        expect(await o.next()).toEqual(NO_LEADER);
        const other = await F.campaign({ election: `${e}-other`, candidate: 'x' });
        await F.release(other.lease_id);
        const g = await F.campaign({ election: e, candidate: 'mine' });
        expect(await o.next()).toMatchObject({ candidate: 'mine' });
        await F.release(g.lease_id);
      } finally {
        await o.close();
      }
    });
  });

  test('no call above crashed a node', async () => {
    await expectAllUp(c);
  });
});
