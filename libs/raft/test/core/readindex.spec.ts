import { NotLeaderError } from '../../src/errors.js';
import { EntryType, Role } from '../../src/types.js';
import { baseConfig, Cluster } from './harness.js';

/** Ticks everyone, stopping mid-delivery as soon as some node becomes leader. */
function tickUntilLeaderElected(c: Cluster, max = 200): string {
  for (let t = 0; t < max; t++) {
    for (const id of c.upIds()) c.core(id).tick();
    c.drain(() => c.leaders().length > 0);
    const [l] = c.leaders();
    if (l) return l;
  }
  throw new Error('no leader');
}

describe('Raft core: ReadIndex (thesis 6.4)', () => {
  it('confirms a read on the leader at its commit index', () => {
    const c = new Cluster(3, { seed: 61 });
    const leader = c.elect();
    c.propose(leader, 'a', 'b');
    c.drain();
    const commit = c.core(leader).log.committed;
    expect(commit).toBe(3);
    const id = c.core(leader).readIndex();
    c.drain();
    expect(c.node(leader).readStates).toEqual([{ id, index: commit }]);
  });

  it('confirms a read only after a quorum of heartbeat responses', () => {
    const c = new Cluster(5, { seed: 62 });
    const leader = c.elect();
    const [f1, f2] = c.others(leader);
    const answering = new Set<string>();
    c.dropIf = (m) => m.type === 'HeartbeatResponse' && !answering.has(m.from);
    const id = c.core(leader).readIndex();
    c.tick(baseConfig.heartbeatTicks);
    expect(c.node(leader).readStates).toEqual([]);
    answering.add(f1); // leader + f1: 2 of 5
    c.tick(baseConfig.heartbeatTicks);
    expect(c.node(leader).readStates).toEqual([]);
    answering.add(f2); // leader + f1 + f2: 3 of 5
    c.tick(baseConfig.heartbeatTicks);
    expect(c.node(leader).readStates).toEqual([{ id, index: c.core(leader).log.committed }]);
  });

  it('a leader partitioned into a minority never confirms a read, and drops it on stepping down', () => {
    const c = new Cluster(3, { seed: 63 });
    const leader = c.elect();
    c.isolate(leader);
    const id = c.core(leader).readIndex();
    const ticks = c.tickUntil(() => c.core(leader).role !== Role.Leader, 100);
    expect(ticks).toBeGreaterThan(0);
    c.tick(3 * baseConfig.electionTicksMax);
    expect(c.node(leader).readStates).toEqual([]);
    expect(c.node(leader).droppedReads).toEqual([id]);
  });

  it('a read issued before the new leader commits its no-op waits for it', () => {
    const c = new Cluster(3, { seed: 64 });
    const leader = tickUntilLeaderElected(c);
    const core = c.core(leader);
    expect(core.log.committed).toBe(0);
    const noop = core.log.lastIndex();
    expect(core.log.entry(noop).type).toBe(EntryType.Noop);
    const id = core.readIndex();
    c.drain(() => c.node(leader).readStates.length > 0);
    // The ReadState appears only once the no-op committed, and points at it.
    expect(core.log.committed).toBe(noop);
    expect(c.node(leader).readStates).toEqual([{ id, index: noop }]);
  });

  it('a read waiting for the no-op is served once it commits, though heartbeats were acked meanwhile', () => {
    const c = new Cluster(3, { seed: 65 });
    // The new leader's AppendEntries (its no-op) are lost for a while; heartbeats get through.
    c.dropIf = (m) => m.type === 'AppendEntries';
    const leader = tickUntilLeaderElected(c);
    const core = c.core(leader);
    const noop = core.log.lastIndex();
    const id = core.readIndex();
    c.tick(2 * baseConfig.heartbeatTicks);
    expect(c.delivered.some((m) => m.type === 'HeartbeatResponse' && m.to === leader)).toBe(true);
    expect(core.log.committed).toBeLessThan(noop);
    expect(c.node(leader).readStates).toEqual([]); // not before the no-op commits
    c.dropIf = () => false;
    // The no-op commits at the next heartbeat; the read must follow (it is never re-confirmed
    // unless another read is issued, if heartbeat acks from before the commit are ignored).
    c.tickUntil(() => c.node(leader).readStates.length > 0, 5 * baseConfig.electionTicksMax);
    expect(core.role).toBe(Role.Leader);
    expect(core.log.committed).toBeGreaterThanOrEqual(noop);
    expect(c.node(leader).readStates).toEqual([{ id, index: noop }]);
  });

  it('readIndex on a follower throws NotLeaderError naming the leader', () => {
    const c = new Cluster(3, { seed: 66 });
    const leader = c.elect();
    const follower = c.ids.find((id) => id !== leader)!;
    let err: unknown;
    try {
      c.core(follower).readIndex();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NotLeaderError);
    expect((err as NotLeaderError).leaderHint).toBe(leader);
  });
});
