import * as grpc from '@grpc/grpc-js';
import type { AcquireResponse } from '../../apps/lock-service/src/domain/api.js';
import { LocalCluster } from '../support/cluster.js';
import type { Unary } from '../support/grpc-clients.js';
import { onAnyNode } from '../support/retry.js';
import { sleep, waitFor } from '../../libs/testing/src/wait.js';

describe('kill -9 of the leader while clients hold and wait', () => {
  const cluster = new LocalCluster();
  beforeAll(() => cluster.start(), 30_000);
  afterAll(() => cluster.stop());

  let renewing = false;
  afterEach(() => {
    renewing = false; // stop the renewal loops even when the test failed
  });

  test('live leases survive, and waiters resume with their request_id and get exactly one grant', async () => {
    const leader = await cluster.leader();
    const [follower] = cluster.ids.filter((id) => id !== leader);
    if (follower === undefined) throw new Error('a 3-node cluster has followers');
    // Three holders, each renewing through the followers every 500 ms.
    const holders = await Promise.all(
      [0, 1, 2].map((i) =>
        onAnyNode(cluster, (api) =>
          api.call<AcquireResponse>(api.lock, 'Acquire', {
            name: `fo/${i}`,
            owner: `holder-${i}`,
            ttl_ms: 3000,
          }),
        ),
      ),
    );
    renewing = true;
    const renewals = holders.map(async (h) => {
      while (renewing) {
        await onAnyNode(cluster, (api) =>
          api.call(api.lock, 'Renew', { lease_id: h.lease_id }, 1000),
        );
        await sleep(500); // the holders' renewal period
      }
    });
    // A waiter queued behind holder 0 through a follower, then the leader dies.
    const waitReq = {
      name: 'fo/0',
      owner: 'waiter',
      ttl_ms: 3000,
      wait_ms: 30_000,
      request_id: 'fo-waiter-1',
    };
    const firstAttempt = cluster
      .api(follower)
      .call<AcquireResponse>(cluster.api(follower).lock, 'Acquire', waitReq, 40_000)
      .catch((e: Error) => e);
    await waitFor('the waiter to be queued', async () => {
      const d = await onAnyNode(cluster, (api) =>
        api.call<{ waiters: number }>(api.lock, 'Describe', { name: 'fo/0' }),
      );
      return d.waiters === 1;
    });
    await cluster.kill(leader, 'SIGKILL');
    const newLeader = await cluster.leader();
    expect(newLeader).not.toBe(leader);

    // The first attempt ended without a grant (its leader is gone); the retry resumes the entry.
    const first = await firstAttempt;
    expect(first).toBeInstanceOf(Error);
    const retry = onAnyNode(
      cluster,
      (api) => api.call<AcquireResponse>(api.lock, 'Acquire', waitReq, 40_000),
      40_000,
    );
    await waitFor('the retried waiter to be queued once', async () => {
      const d = await onAnyNode(cluster, (api) =>
        api.call<{ waiters: number }>(api.lock, 'Describe', { name: 'fo/0' }),
      );
      return d.waiters === 1;
    });

    // Every holder still holds its lock with its token, well past its 3 s TTL.
    await sleep(3500); // longer than the TTL, so that an expiry would show: time is the subject
    for (const [i, h] of holders.entries()) {
      const d = await onAnyNode(cluster, (api) =>
        api.call<{ held: boolean; fencing_token: number }>(api.lock, 'Describe', {
          name: `fo/${i}`,
        }),
      );
      expect(d).toMatchObject({ held: true, fencing_token: h.fencing_token });
    }
    // Holder 0 lets go: the waiter gets the lock, once, with a larger token.
    await onAnyNode(cluster, (api) =>
      api.call(api.lock, 'Release', { lease_id: holders[0]!.lease_id, name: 'fo/0' }),
    );
    const granted = await retry;
    expect(granted.acquired).toBe(true);
    expect(granted.fencing_token).toBeGreaterThan(holders[0]!.fencing_token);
    const again = await onAnyNode(cluster, (api) =>
      api.call<AcquireResponse>(api.lock, 'Acquire', waitReq),
    );
    expect(again).toMatchObject({
      acquired: true,
      lease_id: granted.lease_id,
      fencing_token: granted.fencing_token,
    });
    renewing = false;
    await Promise.all(renewals);

    // The killed node comes back and catches up.
    cluster.startNode(leader);
    await waitFor('the restarted node to apply the grant', async () => {
      const s = await cluster.status(leader);
      return s.applied_index >= granted.fencing_token;
    });
  }, 90_000);

  test('a waiting call cancelled by its client and sent again with the same request_id keeps its wait and is granted', async () => {
    const leader = await cluster.leader();
    const [follower] = cluster.ids.filter((id) => id !== leader);
    if (follower === undefined) throw new Error('a 3-node cluster has followers');
    const name = `fo/moved-${process.pid}`;
    const holder = await cluster
      .api(leader)
      .call<AcquireResponse>(cluster.api(leader).lock, 'Acquire', {
        name,
        owner: 'holder',
        ttl_ms: 30_000,
      });
    const waitReq = { name, owner: 'mover', ttl_ms: 10_000, wait_ms: 30_000, request_id: name };
    // The first attempt waits through a follower, which forwards it to the leader; the client
    // then gives up on it (as the SDK does when it moves a call) and sends it again.
    const api = cluster.api(follower);
    const acquire = (api.lock as unknown as Record<string, Unary>)['Acquire']!;
    let firstCode: number | undefined;
    const first = acquire.call(
      api.lock,
      waitReq,
      new grpc.Metadata(),
      { deadline: Date.now() + 30_000 },
      (e) => (firstCode = e?.code),
    );
    await waitFor('the first attempt to queue', async () => {
      const d = await api.call<{ waiters: number }>(api.lock, 'Describe', { name });
      return d.waiters === 1;
    });
    first.cancel();
    await waitFor('the first attempt to end', async () => firstCode !== undefined);
    expect(firstCode).toBe(grpc.status.CANCELLED);
    // Sent on the same connection after the cancel, so the leader sees the cancel first.
    const retry = api.call<AcquireResponse>(api.lock, 'Acquire', waitReq, 30_000);
    await waitFor('the retry to take the wait over', async () => {
      const d = await api.call<{ waiters: number }>(api.lock, 'Describe', { name });
      return d.waiters === 1;
    });
    await cluster
      .api(leader)
      .call(cluster.api(leader).lock, 'Release', { lease_id: holder.lease_id, name });
    const granted = await retry;
    expect(granted).toMatchObject({ acquired: true, holder: 'mover' });
    expect(granted.fencing_token).toBeGreaterThan(holder.fencing_token);
    await api.call(api.lock, 'Release', { lease_id: granted.lease_id, name });
  }, 60_000);
});
