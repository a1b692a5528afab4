// A Renew whose read barrier completes just as its leader steps down must not be answered
// NOT_FOUND ("lease expired or released: its locks are lost") for a live lease, though stepping
// down clears the leader's lease clock (chaos seed 20261127 on 3 nodes reaches that moment).
// Renewals hammer one long lease while leadership moves around; not one may be told the lease
// is gone, and the lease must still hold its lock with its token afterwards.
import { status } from '@grpc/grpc-js';
import { ApiClient } from '../support/grpc-clients.js';
import { waitFor } from '../../libs/testing/src/wait.js';
import { ChaosCluster } from './cluster.js';

describe('renewals racing leader changes', () => {
  const cluster = new ChaosCluster(['n1', 'n2', 'n3']);
  const apis: ApiClient[] = [];
  /** The client of node i of cluster.ids (apis follow that order), round robin. */
  const apiOf = (i: number): ApiClient => {
    const a = apis[i % apis.length];
    if (a === undefined) throw new Error(`no client for node ${i}`);
    return a;
  };
  beforeAll(async () => {
    await cluster.start();
    for (const a of cluster.endpoints()) apis.push(new ApiClient(a));
  }, 60_000);
  afterAll(async () => {
    for (const a of apis) a.close();
    await cluster.stop();
  });

  test('a live lease is never answered NOT_FOUND, whichever node was leading', async () => {
    const grant = await apiOf(0).call<{ lease_id: string; fencing_token: number }>(
      apiOf(0).lock,
      'Acquire',
      { name: 'renew-race', owner: 'holder', ttl_ms: 60_000 },
    );
    let stop = false;
    const counts = { ok: 0, notFound: 0, other: 0 };
    const renewer = async (i: number) => {
      const api = apiOf(i);
      while (!stop) {
        try {
          await api.call(api.lock, 'Renew', { lease_id: grant.lease_id }, 2000);
          counts.ok++;
        } catch (e) {
          if ((e as { code?: number }).code === status.NOT_FOUND) counts.notFound++;
          else counts.other++; // UNAVAILABLE while leadership moves: retryable, fine
        }
      }
    };
    const renewers = Array.from({ length: 12 }, (_, i) => renewer(i));
    try {
      for (let i = 0; i < 25; i++) {
        // Let renewals run under this leader for a while, so that some are in flight when it
        // hands over (counted, not timed: a slow machine gets as many).
        const mark = counts.ok;
        await waitFor('renewals under the current leader', () => counts.ok >= mark + 50, 20_000);
        const from = await cluster.awaitLeader(10_000);
        expect(from).toBeDefined();
        const ids = cluster.ids;
        const target = ids[(ids.indexOf(from!) + 1) % ids.length]!;
        const api = apiOf(ids.indexOf(from!));
        // On a loaded machine a transfer can miss its election timeout (UNAVAILABLE), or the
        // leader may not have heard from the target within one (FAILED_PRECONDITION): both are
        // refusals of this attempt, so ask again until it is accepted, within a bound.
        const answer = await waitFor(
          `the transfer to ${target} to be accepted`,
          () =>
            api
              .call(api.cluster, 'TransferLeadership', { id: target }, 5000)
              .catch((e: { code?: number }) => {
                if (e.code !== status.UNAVAILABLE && e.code !== status.FAILED_PRECONDITION) throw e;
                return undefined;
              }),
          20_000,
        );
        expect(answer).toEqual({ leader_id: target });
        await waitFor(
          `${target} to lead, as every node sees it`,
          async () => (await cluster.agreedLeader()) === target,
          10_000,
        );
      }
    } finally {
      stop = true;
      await Promise.all(renewers);
    }
    expect(counts.notFound).toBe(0);
    await cluster.awaitLeader(10_000);
    const leader = apiOf(cluster.ids.indexOf((await cluster.latestLeader())!));
    const d = await leader.call(leader.lock, 'Describe', { name: 'renew-race' });
    expect(d).toMatchObject({ held: true, owner: 'holder', fencing_token: grant.fencing_token });
  }, 90_000);
});
