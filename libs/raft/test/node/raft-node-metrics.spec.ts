// What RaftNode exposes for metrics: counters, the observer, log size and snapshot events.
import { LeadershipLostError, NotLeaderError } from '../../src/errors.js';
import { RaftNode } from '../../src/node.js';
import type { StateMachine } from '../../src/ports.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import type { Entry } from '../../src/types.js';
import { LocalHub } from './local-transport.js';
import { waitFor } from '../../../testing/src/wait.js';

class Sink implements StateMachine<number> {
  apply(e: Entry): number {
    return e.index;
  }
  snapshot(): Iterable<Uint8Array> {
    return [new Uint8Array(4), new Uint8Array(6)];
  }
  async restore(): Promise<void> {}
}

const ids = ['a', 'b', 'c'];

describe('RaftNode metrics hooks', () => {
  let nodes: RaftNode<number>[] = [];

  beforeEach(async () => {
    const hub = new LocalHub();
    nodes = await Promise.all(
      ids.map((id, i) =>
        RaftNode.start<number>({
          id,
          voters: ids,
          storage: new MemoryStorage(),
          transport: hub.transport(id),
          stateMachine: new Sink(),
          seed: i + 1,
          snapshotEntries: 20,
          snapshotRetainEntries: 5,
        }),
      ),
    );
  });

  afterEach(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  });

  const leader = () => waitFor('a leader', () => nodes.find((n) => n.isLeader()));

  test('counts proposals by result and reports commit and storage latencies', async () => {
    const l = await leader();
    const commits: number[] = [];
    const writes: [number, number][] = [];
    l.observer = {
      proposalCommitted: (s) => commits.push(s),
      storageWrite: (s, n) => writes.push([s, n]),
    };
    const before = { ...l.counters.proposals };
    await Promise.all([1, 2, 3].map((b) => l.propose(Uint8Array.of(b))));
    const f = nodes.find((n) => n !== l)!;
    await waitFor('the follower to know the leader', () => f.leaderId() === l.id);
    await expect(f.propose(Uint8Array.of(1))).rejects.toThrow(NotLeaderError);

    expect(l.counters.proposals.committed - before.committed).toBe(3);
    expect(f.counters.proposals.not_leader).toBe(1);
    expect(commits).toHaveLength(3);
    for (const s of commits) expect(s).toBeGreaterThanOrEqual(0);
    expect(writes.reduce((n, [, entries]) => n + entries, 0)).toBeGreaterThanOrEqual(3);
    expect(l.counters.appendEntriesSent).toBeGreaterThan(0);
    expect(f.counters.appendEntriesReceived).toBeGreaterThan(0);
    expect(l.counters.appendEntriesReceived).toBe(0);
  });

  test('counts each proposal once, committed or lost, across a leadership transfer', async () => {
    const l = await leader();
    await l.propose(Uint8Array.of(1));
    const pending = l.propose(Uint8Array.of(2));
    const target = nodes.find((n) => n !== l)!;
    await l.transferLeadership(target.id); // rejects unless the target leads in time
    await waitFor('the target to lead', () => target.isLeader());
    expect(l.isLeader()).toBe(false);
    // The in-flight proposal either committed under l or was failed as lost: nothing else.
    const outcome = await pending.then(
      () => 'committed',
      (e: Error) => (e instanceof LeadershipLostError ? 'lost' : e),
    );
    expect(['committed', 'lost']).toContain(outcome);
    const p = l.counters.proposals;
    expect(p.committed + p.lost).toBe(2);
  });

  test('sizes the log and reports snapshots taken and compacted', async () => {
    const l = await leader();
    const taken: number[] = [];
    const durations: number[] = [];
    // Asserted below, not in the listener: a throw there would land in the node, not the test.
    l.on('snapshot', (_meta, bytes: number, seconds: number) => {
      durations.push(seconds);
      taken.push(bytes);
    });
    for (let i = 0; i < 10; i++) await l.propose(new Uint8Array(100));
    const mid = l.logSize();
    expect(mid.entries).toBe(l.status().lastIndex);
    expect(mid.bytes).toBeGreaterThan(10 * 100);
    for (let i = 0; i < 20; i++) await l.propose(new Uint8Array(100));
    await waitFor('a snapshot', () => taken.length > 0);
    expect(taken[0]).toBe(10);
    for (const s of durations) expect(s).toBeGreaterThanOrEqual(0);
    expect(l.counters.snapshotsTaken).toBeGreaterThan(0);
    const after = l.logSize();
    // Compaction keeps only the retained tail, and the byte estimate shrinks with it.
    expect(after.entries).toBeLessThan(l.status().lastIndex);
    expect(after.bytes).toBeLessThan(after.entries * 200);
  });
});
