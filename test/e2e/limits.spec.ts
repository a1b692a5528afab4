// Configured limits answer RESOURCE_EXHAUSTED and the nodes stay up: a 3-node cluster started
// with --max-waiters-per-lock 2 --max-leases 5 --max-streams 2.
// Every test starts from a cluster with no lease (beforeEach) and leaves none (afterEach), so each
// passes alone and in any order.
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
} from '../support/e2e.js';
import {
  type AcquireResponse,
  type CampaignResponse,
  expectCode,
  KeepAlive,
  type LeaderResponse,
  openObserve,
  openWatch,
  type StreamReader,
} from '../support/streams.js';
import { ignoreRejection } from '../../libs/common/src/ignore.js';
import { waitFor } from '../../libs/testing/src/wait.js';

describe('limits (3-node cluster with small limits)', () => {
  const c = new LocalCluster({
    flags: ['--max-waiters-per-lock', '2', '--max-leases', '5', '--max-streams', '2'],
  });
  let follower: string;
  let L: Methods;
  let F: Methods;

  // Leases this test was granted, and its calls still running: afterEach gives them all back.
  const granted = new Set<string>();
  const running = new Set<Promise<unknown>>();
  function tracking(m: Methods): Methods {
    const keep = <T extends AcquireResponse | CampaignResponse>(p: Promise<T>): Promise<T> => {
      const q = p.then((r) => {
        if (r.lease_id) granted.add(r.lease_id);
        return r;
      });
      const settled = ignoreRejection(q, 'the caller gets the outcome from q').finally(() =>
        running.delete(settled),
      );
      running.add(settled);
      return q;
    };
    return {
      ...m,
      acquire: (req, timeoutMs) => keep(m.acquire(req, timeoutMs)),
      campaign: (req, timeoutMs) => keep(m.campaign(req, timeoutMs)),
    };
  }

  beforeAll(async () => {
    await c.start();
    const r = await roles(c);
    follower = r.follower;
    L = tracking(methods(c.api(r.leader)));
    F = tracking(methods(c.api(r.follower)));
  }, 30_000);
  afterAll(() => c.stop());

  beforeEach(async () => {
    // A lease left over would count against --max-leases: it is released (or, at worst, expires).
    await waitFor(
      'no lease left from another test',
      async () => (await stateGauge(c, follower, 'leases_active')) === 0,
      30_000,
    );
  }, 35_000);

  afterEach(async () => {
    // Releasing frees the locks a waiter still queued for; it is then granted, and released too.
    while (granted.size > 0 || running.size > 0) {
      for (const id of [...granted]) {
        granted.delete(id);
        await F.release(id);
      }
      await Promise.all(running);
    }
    await expectAllUp(c);
  }, 30_000);

  test('--max-waiters-per-lock: a third waiter on one lock is RESOURCE_EXHAUSTED', async () => {
    const name = fresh('waiters');
    const h = await F.acquire({ name, owner: 'h' });
    const w1 = track(F.acquire({ name, owner: 'w1', wait_ms: 20_000 }));
    await waitFor('w1 to queue', async () => (await F.describe(name)).waiters === 1);
    const w2 = track(L.acquire({ name, owner: 'w2', wait_ms: 20_000 }));
    await waitFor('w2 to queue', async () => (await F.describe(name)).waiters === 2);

    await expectCode(
      F.acquire({ name, owner: 'w3', wait_ms: 20_000 }),
      grpc.status.RESOURCE_EXHAUSTED,
    );
    await expectCode(
      L.acquire({ name, owner: 'w3', wait_ms: 5_000 }),
      grpc.status.RESOURCE_EXHAUSTED,
    );
    // A try-lock does not queue, so it is answered as usual.
    expect(await F.acquire({ name, owner: 't' })).toMatchObject({ acquired: false, holder: 'h' });
    expect(await F.describe(name)).toMatchObject({ owner: 'h', waiters: 2 });
    await expectAllUp(c);

    // Room again once a waiter is granted.
    await F.release(h.lease_id);
    const g1 = await w1.promise;
    const w3 = track(F.acquire({ name, owner: 'w3', wait_ms: 20_000 }));
    await waitFor('w3 to queue', async () => (await F.describe(name)).waiters === 2);
    await F.release(g1.lease_id);
    const g2 = await w2.promise;
    await F.release(g2.lease_id);
    const g3 = await w3.promise;
    expect(g3).toMatchObject({ acquired: true, holder: 'w3' });
    await F.release(g3.lease_id);
  });

  test('--max-waiters-per-lock also bounds the candidates waiting in one election', async () => {
    const e = fresh('candidates');
    const first = await F.campaign({ election: e, candidate: 'c0' });
    const waiting = [1, 2].map((i) =>
      track(F.campaign({ election: e, candidate: `c${i}`, wait_ms: 20_000 }, 25_000)),
    );
    // Elections have no Describe: the queue shows in the metrics. No other election has
    // candidates (no other lease exists), so two queued is this one full.
    await waitFor(
      'two candidates to queue',
      async () => (await stateGauge(c, follower, 'lock_waiters', { kind: 'election' })) === 2,
    );
    // Were it queued, it would wait past the call's deadline (10 s) instead of being refused.
    for (const via of [F, L])
      await expectCode(
        via.campaign({ election: e, candidate: 'c3', wait_ms: 20_000 }),
        grpc.status.RESOURCE_EXHAUSTED,
      );
    await expectAllUp(c);
    await F.release(first.lease_id);
    const g1 = await waiting[0]!.promise;
    expect(g1.elected).toBe(true);
    await F.release(g1.lease_id);
    const g2 = await waiting[1]!.promise;
    expect(g2.elected).toBe(true);
    await F.release(g2.lease_id);
  });

  test('--max-leases: creating a sixth lease is RESOURCE_EXHAUSTED; existing leases still work', async () => {
    // No lease exists when a test starts: five can be created, not six.
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await F.acquire({ name: fresh('lease'), owner: 'o' }));
    await expectCode(
      F.acquire({ name: fresh('lease'), owner: 'o' }),
      grpc.status.RESOURCE_EXHAUSTED,
    );
    await expectCode(
      L.campaign({ election: fresh('lease-e'), candidate: 'c' }),
      grpc.status.RESOURCE_EXHAUSTED,
    );
    await expectCode(
      F.acquire({ name: fresh('lease'), owner: 'o', wait_ms: 1_000 }),
      grpc.status.RESOURCE_EXHAUSTED,
    );
    await expectAllUp(c);

    // An existing lease can still take more locks, be renewed and campaign.
    const [lease] = made;
    if (lease === undefined) throw new Error('no lease was made');
    const more = await F.acquire({
      name: fresh('lease-more'),
      owner: 'o',
      lease_id: lease.lease_id,
    });
    expect(more).toMatchObject({ acquired: true, lease_id: lease.lease_id });
    expect(await F.renew(lease.lease_id)).toMatchObject({ lease_id: lease.lease_id });
    expect(
      await F.campaign({ election: fresh('lease-e'), candidate: 'c', lease_id: lease.lease_id }),
    ).toMatchObject({ elected: true });

    // Releasing a lease makes room for a new one.
    await F.release(lease.lease_id);
    const fresh1 = await F.acquire({ name: fresh('lease'), owner: 'o' });
    expect(fresh1.acquired).toBe(true);
    for (const g of [...made.slice(1), fresh1]) await F.release(g.lease_id);
  });

  describe('--max-streams', () => {
    const open: StreamReader<unknown>[] = [];
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });

    /**
     * An Observe stream on the follower that answered, so it holds one of the node's slots. The
     * server frees the slot of a stream a test closed a moment after the client saw it end:
     * until then an attempt is refused, so that (and only that) is retried, bounded.
     */
    async function takeSlot(what: string): Promise<StreamReader<LeaderResponse>> {
      const { o, first } = await waitFor(what, async () => {
        const o = openObserve(F.api, fresh('slot'));
        open.push(o);
        const first = await ignoreRejection(o.next(), 'a refusal is read from o.status below');
        if (!first && o.status?.code === grpc.status.RESOURCE_EXHAUSTED) return false;
        return { o, first };
      });
      expect(o.status).toBeUndefined();
      expect(first).toMatchObject({ has_leader: false });
      return o;
    }

    /** Fills the follower's two stream slots. */
    async function fill(): Promise<StreamReader<LeaderResponse>[]> {
      return [await takeSlot('stream slot 1'), await takeSlot('stream slot 2')];
    }

    test('a third Watch or Observe on one node is RESOURCE_EXHAUSTED; other nodes still accept', async () => {
      await fill();
      for (const s of [openWatch(F.api, 'p'), openObserve(F.api, 'e')]) {
        open.push(s);
        const status = await s.end();
        expect(grpc.status[status.code]).toBe('RESOURCE_EXHAUSTED');
      }
      // Per node: the leader has its own slots.
      const other = openObserve(L.api, fresh('other-node'));
      open.push(other);
      expect(await other.next()).toMatchObject({ has_leader: false });
      await expectAllUp(c);
    });

    test('a third KeepAlive stream on one node is RESOURCE_EXHAUSTED', async () => {
      const g = await F.acquire({ name: fresh('ka'), owner: 'o' });
      try {
        await fill();
        const k = new KeepAlive(F.api);
        open.push(k);
        k.renew(g.lease_id);
        const status = await k.end();
        expect(grpc.status[status.code]).toBe('RESOURCE_EXHAUSTED');
        await expectAllUp(c);
      } finally {
        await F.release(g.lease_id);
      }
    });

    test('closing a stream frees its slot', async () => {
      const [first] = await fill();
      if (first === undefined) throw new Error('no stream was opened');
      const refused = openWatch(F.api, 'p');
      open.push(refused);
      expect(grpc.status[(await refused.end()).code]).toBe('RESOURCE_EXHAUSTED');
      await first.close();
      await takeSlot("the closed stream's slot to be free again");
    });
  });
});
