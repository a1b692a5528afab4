// An abandoned lease must expire within its bound however often the leader changes: every new
// leader continues the lease clock instead of granting each lease a fresh TTL.
import { fresh, methods } from '../support/e2e.js';
import { LocalCluster } from '../support/cluster.js';
import { ignoreRejection } from '../../libs/common/src/ignore.js';
import { waitFor } from '../../libs/testing/src/wait.js';

const TTL = 3_000;
const KILL_EVERY_MS = 1_000;

describe('lease expiry under leader churn (3-node cluster)', () => {
  const cluster = new LocalCluster();
  beforeAll(() => cluster.start(), 30_000);
  afterAll(() => cluster.stop());

  /** Whether the lock is free, asked through any running node; undefined if nobody answers. */
  async function freed(name: string): Promise<boolean | undefined> {
    for (const id of cluster.ids.filter((i) => cluster.isUp(i))) {
      try {
        return !(await methods(cluster.api(id)).describe(name)).held;
      } catch {
        // no leader right now, or this node is still starting: ask another
      }
    }
    return undefined;
  }

  /** Waits until the running nodes other than `killed` name one leader other than it. */
  function newLeader(killed: string): Promise<string> {
    return waitFor(`a leader other than ${killed}`, async () => {
      const up = cluster.ids.filter((i) => i !== killed && cluster.isUp(i));
      const seen = await Promise.all(
        up.map((i) => ignoreRejection(cluster.status(i), 'a node that does not answer has no say')),
      );
      const l = seen[0]?.leader_id;
      return l && l !== killed && seen.every((s) => s?.leader_id === l) && l;
    });
  }

  test('an abandoned lease expires within TTL + time without a leader + 1 s while the leader is killed every second', async () => {
    let leader = await cluster.leader();
    const name = fresh('churn');
    const sent = performance.now(); // the lease's only renewal is its creation, after this
    const g = await methods(cluster.api(leader)).acquire({ name, owner: 'gone', ttl_ms: TTL });
    expect(g.acquired).toBe(true);
    let leaderless = 0;
    let freedAt: number | undefined;
    let kills = 0;
    while (freedAt === undefined && performance.now() - sent < 30_000) {
      // Watched for a second, then the leader dies: the churn the lease must expire through.
      freedAt = await ignoreRejection(
        waitFor(
          'the lock to be freed',
          async () => (await freed(name)) && performance.now(),
          KILL_EVERY_MS,
        ),
        'not freed yet: the leader is killed next',
      );
      if (freedAt !== undefined) break;
      const killedAt = performance.now();
      await cluster.kill(leader);
      kills++;
      const killed = leader;
      leader = await newLeader(killed);
      leaderless += performance.now() - killedAt;
      cluster.startNode(killed);
    }
    expect(freedAt).toBeDefined();
    expect(kills).toBeGreaterThanOrEqual(2); // the churn did happen while the lease lived
    expect(freedAt! - sent).toBeLessThanOrEqual(TTL + leaderless + 1_000);
  }, 60_000);
});
