import { add, type CounterCluster, startCounterCluster } from '../../examples/counter.js';
import { NotLeaderError } from '../../src/errors.js';

// The README's example does what the README says it does.
describe('libs/raft/examples/counter.ts', () => {
  let cluster: CounterCluster;
  afterEach(() => cluster?.stop());

  test('three nodes agree on the total, refuse proposals on followers, and snapshot', async () => {
    cluster = await startCounterCluster();
    const leader = await cluster.leader();
    const follower = [...cluster.nodes.values()].find((n) => n !== leader)!;
    await expect(follower.propose(add(1))).rejects.toBeInstanceOf(NotLeaderError);

    const snapshots: number[] = [];
    leader.on('snapshot', (meta) => snapshots.push(meta.index));
    let expected = 0;
    for (let i = 1; i <= 150; i++) {
      const { result } = await leader.propose(add(i % 2 ? i : -i));
      expected += i % 2 ? i : -i;
      // The result is the state machine's, after this entry applied on the leader.
      expect(result).toBe(expected);
    }
    expect(snapshots.length).toBeGreaterThan(0);

    // Once every node has applied the leader's last entry, every counter holds the same total.
    const last = leader.applied;
    const deadline = Date.now() + 10_000;
    while ([...cluster.nodes.values()].some((n) => n.applied < last) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect([...cluster.counters.values()].map((c) => c.total)).toEqual([
      expected,
      expected,
      expected,
    ]);
  });
});
