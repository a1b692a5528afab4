// A follower that catches up by InstallSnapshot never applied the changes the snapshot covers.
// Its Watch and Observe streams must not go on as if nothing was missed: they end with ABORTED,
// and the SDK re-reads and subscribes again (Observe) or reports the gap (Watch).
import { QuorumLockClient } from '@quorumlock/client';
import type { LeaderInfo } from '@quorumlock/client';
import { fresh, grpc, methods, roles } from '../support/e2e.js';
import { LocalCluster } from '../support/cluster.js';
import { openObserve, openWatch } from '../support/streams.js';
import { sleep, waitFor } from '../../libs/testing/src/wait.js';

/** With one node paused, a loaded machine may see a leader change: retry as a client would. */
async function retryUnavailable<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if ((e as { code?: number }).code !== grpc.status.UNAVAILABLE || attempt >= 50) throw e;
      await sleep(20); // a client's backoff between attempts
    }
  }
}

describe('streams on a follower that catches up by snapshot (3-node cluster)', () => {
  // Snapshots (and so log compaction) every 50 entries: a follower paused for a few hundred
  // entries can only catch up by snapshot.
  const cluster = new LocalCluster({ flags: ['--snapshot-entries', '50'] });
  beforeAll(() => cluster.start(), 30_000);
  afterAll(() => cluster.stop());

  test('Watch and Observe end with ABORTED; the SDK observes the current state again', async () => {
    const { leader, follower } = await roles(cluster);
    const L = methods(cluster.api(leader));
    const prefix = `${fresh('snap')}/`;
    const election = fresh('snap-e');
    const F = cluster.api(follower);
    const watch = openWatch(F, prefix);
    const observe = openObserve(F, election);
    const sdk = new QuorumLockClient({ endpoints: [F.address] });
    const seen: LeaderInfo[] = [];
    const gaps: Error[] = [];
    const stop = new AbortController();
    const observing = (async () => {
      for await (const l of sdk.observe(election, { signal: stop.signal })) seen.push(l);
    })();
    const watching = (async () => {
      for await (const _ of sdk.watch(prefix, { signal: stop.signal, onGap: (e) => gaps.push(e) }));
    })();
    try {
      expect(await observe.next()).toMatchObject({ has_leader: false });
      const a = await L.campaign({ election, candidate: 'a', value: 'va' });
      await observe.until((m) => m.candidate === 'a');
      await waitFor('the SDK to see a lead', () => seen.some((l) => l.candidate === 'a'));

      cluster.pause(follower);
      // One entry per message: the follower finds at most the leader's window of 256 messages
      // waiting in its socket when it wakes up, and the rest only in a snapshot.
      for (let i = 0; i < 400; i++) {
        const request_id = `r${i}`;
        const g = await retryUnavailable(() =>
          L.acquire({ name: `${prefix}x`, owner: `o${i}`, request_id }),
        );
        await retryUnavailable(() => L.release(g.lease_id));
      }
      await retryUnavailable(() => L.resign(election, a.lease_id));
      cluster.resume(follower);

      expect((await watch.end(15_000)).code).toBe(grpc.status.ABORTED);
      expect((await observe.end(15_000)).code).toBe(grpc.status.ABORTED);
      await waitFor('the follower to log its snapshot install', () =>
        /installed snapshot/.test(cluster.logs(follower)),
      );
      // The SDK subscribed again: it reports the resignation it would otherwise have missed.
      await waitFor('the SDK to see no leader', () => seen.at(-1)?.hasLeader === false);
      await waitFor('the SDK to report the Watch gap', () => gaps.length > 0);
    } finally {
      cluster.resume(follower);
      stop.abort();
      await Promise.allSettled([observing, watching]);
      await sdk.close();
      await watch.close();
      await observe.close();
    }
  }, 60_000);
});
