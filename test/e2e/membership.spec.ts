// Membership changes on real node processes: growing and shrinking under lock traffic, replacing
// a dead node, removing the leader, a removed node coming back, a learner that catches up by
// snapshot. The error cases are in membership-errors.spec.ts.
import { QuorumLockClient, type ClusterMembers } from '@quorumlock/client';
import { LocalCluster } from '../support/cluster.js';
import { waitFor } from '../../libs/testing/src/wait.js';

const client = (c: LocalCluster, ids: readonly string[] = c.ids) =>
  new QuorumLockClient({ endpoints: ids.map((id) => c.node(id).client), callTimeoutMs: 20_000 });

const voters = (m: ClusterMembers) =>
  m.members
    .filter((x) => !x.learner)
    .map((x) => x.id)
    .sort();

interface Grant {
  lock: string;
  token: bigint;
  from: number;
  to: number;
}

/**
 * Workers that take turns on a few locks until stopped, recording each holding: per lock, tokens
 * must increase in grant order and holdings never overlap. Every call must succeed (the SDK
 * retries through leader changes); a failure is recorded, not retried by hand.
 */
function lockTraffic(c: LocalCluster, workers = 4) {
  const sdk = client(c);
  const grants: Grant[] = [];
  const failures: string[] = [];
  let running = true;
  const worker = async (w: number) => {
    for (let r = 0; running; r++) {
      const name = `grow/${(w + r) % 2}`;
      try {
        const lock = await sdk.acquire(name, { ttlMs: 5_000, waitMs: 20_000, owner: `w${w}` });
        const from = performance.now();
        await new Promise((res) => setImmediate(res));
        const to = performance.now();
        await lock.release();
        grants.push({ lock: name, token: lock.fencingToken, from, to });
      } catch (e) {
        failures.push(`${name}: ${(e as Error).message}`);
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return {
    grants,
    failures,
    async stop(): Promise<void> {
      running = false;
      await done;
      await sdk.close();
    },
  };
}

function checkExclusion(grants: Grant[]): void {
  const byLock = new Map<string, Grant[]>();
  for (const g of grants) byLock.set(g.lock, [...(byLock.get(g.lock) ?? []), g]);
  for (const [lock, gs] of byLock) {
    gs.sort((a, b) => a.from - b.from);
    for (let i = 1; i < gs.length; i++) {
      const [prev, cur] = [gs[i - 1]!, gs[i]!];
      expect({ lock, token: cur.token > prev.token }).toEqual({ lock, token: true });
      expect({ lock, overlap: cur.from < prev.to }).toEqual({ lock, overlap: false });
    }
  }
}

describe('membership changes (processes)', () => {
  test('grows 3 -> 5 and shrinks back under lock traffic: no failed call, mutual exclusion throughout', async () => {
    const c = new LocalCluster();
    try {
      await c.start();
      const traffic = lockTraffic(c);
      const admin = client(c);
      try {
        for (const id of ['n4', 'n5']) {
          const n = await c.join(id);
          await admin.addMember({
            id,
            peerAddress: n.peer,
            clientAddress: n.client,
            learner: true,
          });
          await waitFor(`${id} promoted`, () =>
            admin.promoteMember(id).then(
              () => true,
              () => false,
            ),
          );
        }
        const five = await admin.members();
        expect(voters(five)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
        await waitFor('50 grants with five voters', () => traffic.grants.length >= 50);
        for (const id of ['n5', 'n4']) {
          await admin.removeMember(id);
          c.forget(id);
          await c.kill(id);
        }
        expect(voters(await admin.members())).toEqual(['n1', 'n2', 'n3']);
        const before = traffic.grants.length;
        await waitFor('more grants after shrinking', () => traffic.grants.length >= before + 20);
      } finally {
        await traffic.stop();
        await admin.close();
      }
      expect(traffic.failures).toEqual([]);
      checkExclusion(traffic.grants);
      expect(c.unexpectedExits()).toEqual([]);
    } finally {
      await c.stop();
    }
  }, 120_000);

  test('replaces a node killed for good by a new one on a new data dir', async () => {
    const c = new LocalCluster();
    try {
      await c.start();
      const leader = await c.leader();
      const dead = c.ids.find((id) => id !== leader)!;
      await c.kill(dead);
      const admin = client(c, [leader]);
      try {
        await admin.removeMember(dead);
        c.forget(dead);
        const n = await c.join('n9');
        await admin.addMember({ id: 'n9', peerAddress: n.peer, clientAddress: n.client });
        expect(voters(await admin.members())).toEqual([...c.ids].sort());
        await c.leader();
        // The new voter carries the quorum: with the other follower gone, it and the leader commit.
        const other = c.ids.find((id) => id !== leader && id !== 'n9')!;
        await c.kill(other);
        const lock = await admin.acquire('replaced', { ttlMs: 5_000 });
        await lock.release();
      } finally {
        await admin.close();
      }
    } finally {
      await c.stop();
    }
  }, 90_000);

  test('removes the leader; the removed node restarted on its old data does not disturb the cluster', async () => {
    const c = new LocalCluster();
    try {
      await c.start();
      const old = await c.leader();
      const rest = c.ids.filter((id) => id !== old);
      const admin = client(c, rest);
      try {
        const after = await admin.removeMember(old);
        expect(after.members.map((m) => m.id).sort()).toEqual(rest);
        c.forget(old);
        const leader = await c.leader();
        expect(leader).not.toBe(old);
        const term = Number((await c.status(leader)).term);
        await c.kill(old);
        c.startNode(old);
        // The removed node runs again on its data: it knows it was removed and stays quiet.
        await waitFor('the removed node answers', () => c.status(old).then(() => true));
        const lock = await admin.acquire('after-removal', { ttlMs: 5_000 });
        await lock.release();
        // Through several of its election timeouts, nobody's term moves.
        const started = performance.now();
        await waitFor('two seconds of the removed node running', async () => {
          for (const id of rest) expect(Number((await c.status(id)).term)).toBe(term);
          return performance.now() - started > 2_000;
        });
        expect(Number((await c.status(old)).term)).toBeLessThanOrEqual(term);
        expect(voters(await admin.members())).toEqual(rest);
      } finally {
        await admin.close();
      }
    } finally {
      await c.stop();
    }
  }, 90_000);

  test('a learner far behind catches up by snapshot, then is promoted', async () => {
    const c = new LocalCluster({ flags: ['--snapshot-entries', '50'] });
    try {
      await c.start();
      const admin = client(c);
      try {
        for (let i = 0; i < 120; i++) {
          const lock = await admin.acquire(`fill/${i % 3}`, { ttlMs: 5_000 });
          await lock.release();
        }
        const n = await c.join('n4');
        await admin.addMember({
          id: 'n4',
          peerAddress: n.peer,
          clientAddress: n.client,
          learner: true,
        });
        const leader = await c.leader();
        const commit = Number((await c.status(leader)).commit_index);
        await waitFor(
          'n4 caught up',
          async () => Number((await c.status('n4')).applied_index) >= commit,
        );
        expect(c.logs('n4')).toMatch(/installed snapshot from leader/);
        const m = await admin.promoteMember('n4');
        expect(voters(m)).toEqual(['n1', 'n2', 'n3', 'n4']);
        // Restarted on its data (with --join still on its command line, which a node with data
        // ignores), n4 is the voter it was: with n2 down, it is needed for a majority of four.
        await c.kill('n4');
        c.startNode('n4');
        const now = await c.leader();
        await c.kill(['n1', 'n2', 'n3'].find((id) => id !== now)!);
        const lock = await admin.acquire('with-n4', { ttlMs: 5_000 });
        await lock.release();
      } finally {
        await admin.close();
      }
    } finally {
      await c.stop();
    }
  }, 90_000);
});
