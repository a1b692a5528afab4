import { ProcessCluster } from '../../testing/process-cluster.js';
import { waitFor } from '../../../testing/src/wait.js';

// Three kv-node processes with gRPC on 127.0.0.1 and RocksDB on disk. Small snapshot settings
// make a node that was down long enough catch up through InstallSnapshot.
describe('a three-process Raft cluster', () => {
  const cluster = new ProcessCluster(
    ['n1', 'n2', 'n3'],
    ['--snapshot-entries', '50', '--snapshot-retain', '10'],
  );

  beforeAll(() => cluster.start());
  afterAll(() => cluster.stop());

  const allHave = async (ids: string[], expected: Record<string, string>) => {
    const dumps = await Promise.all(ids.map((id) => cluster.dump(id)));
    return dumps.every((d) => Object.entries(expected).every(([k, v]) => d.map[k] === v));
  };

  test('elects a leader, replicates, survives kill -9 of the leader, and catches up a restarted node by snapshot', async () => {
    const expected: Record<string, string> = {};
    const first = await waitFor('a leader', () => cluster.leader());
    for (let i = 0; i < 60; i++) {
      await cluster.propose(first, `a${i}`, `v${i}`);
      expected[`a${i}`] = `v${i}`;
    }
    await waitFor('replication to all nodes', () => allHave(cluster.ids, expected));
    const firstTerm = (await cluster.status(first)).term;

    await cluster.kill(first, 'SIGKILL');
    const survivors = cluster.ids.filter((id) => id !== first);
    const second = await waitFor('a new leader', () => cluster.leader());
    expect(second).not.toBe(first);
    expect((await cluster.status(second)).term).toBeGreaterThan(firstTerm);
    // Every entry committed under the old leader is still there.
    expect(await allHave(survivors, expected)).toBe(true);

    // With the old leader down, write enough to compact the log past where it stopped.
    for (let i = 0; i < 150; i++) {
      await cluster.propose(second, `b${i}`, `w${i}`);
      expected[`b${i}`] = `w${i}`;
    }
    await waitFor('replication to survivors', () => allHave(survivors, expected));
    expect((await cluster.status(second)).counters.snapshotsTaken).toBeGreaterThan(0);

    await cluster.startNode(first);
    await waitFor('the restarted node to catch up', () => allHave([first], expected));
    expect((await cluster.status(first)).counters.snapshotsInstalled).toBeGreaterThan(0);
    const leader = await waitFor('one leader after the restart', () => cluster.leader());
    const index = await cluster.propose(leader, 'after', 'restart');
    await waitFor('all three to apply a new entry', async () => {
      const s = await Promise.all(cluster.ids.map((id) => cluster.status(id)));
      return s.every((x) => x.applied >= index);
    });
  });

  test('a linearizable read on the leader sees the latest write; followers refuse with the leader hint', async () => {
    const leader = await waitFor('a leader', () => cluster.leader());
    await cluster.propose(leader, 'read-me', 'yes');
    const r = await cluster.call<{ value: string }>(leader, '/read?k=read-me');
    expect(r.body.value).toBe('yes');
    const follower = cluster.ids.find((id) => id !== leader)!;
    const f = await cluster.call<{ leader: string; name: string }>(follower, '/read?k=read-me');
    expect(f.status).toBe(421);
    expect(f.body.leader).toBe(leader);
  });

  test('leadership transfer hands over to the chosen node', async () => {
    const leader = await waitFor('a leader', () => cluster.leader());
    const target = cluster.ids.find((id) => id !== leader)!;
    const r = await cluster.call(leader, '/transfer', { to: target });
    expect(r.status).toBe(200);
    expect(
      await waitFor('the target to lead', async () => (await cluster.leader()) === target),
    ).toBe(true);
  });
});
