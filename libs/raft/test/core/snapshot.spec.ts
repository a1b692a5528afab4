import { readAll } from '../../src/snapshot-stream.js';
import { type InstallSnapshot, Role } from '../../src/types.js';
import { baseConfig, Cluster, dec } from './harness.js';

/** A 3-node cluster whose follower `behind` missed 20 entries that the leader then compacted. */
function laggingFollowerBehindSnapshot(seed: number) {
  const c = new Cluster(3, { seed });
  const leader = c.elect();
  const [behind, other] = c.others(leader);
  c.isolate(behind);
  for (let k = 0; k < 20; k++) c.propose(leader, `v${k}`);
  c.drain();
  const meta = c.compact(leader);
  c.propose(leader, 'after-1', 'after-2');
  c.drain();
  return { c, leader, behind, other, meta };
}

describe('Raft core: snapshots (paper 7)', () => {
  it('compacting the leader keeps its commit and drops the log up to the snapshot', () => {
    const { c, leader, meta } = laggingFollowerBehindSnapshot(71);
    const log = c.core(leader).log;
    expect(meta).toMatchObject({ index: 21, term: c.core(leader).term });
    expect(meta.membership?.index).toBe(0);
    expect(log.firstIndex()).toBe(22);
    expect(log.term(21)).toBe(meta.term);
    expect(log.term(20)).toBeUndefined();
    expect(log.committed).toBe(23);
  });

  it('sends InstallSnapshot to a follower behind the compaction point, which restores it and catches up', async () => {
    const { c, leader, behind, meta } = laggingFollowerBehindSnapshot(72);
    c.heal();
    const ticks = c.tickUntil(
      () => c.core(behind).log.committed === c.core(leader).log.committed,
      3 * baseConfig.electionTicksMin,
    );
    expect(ticks).toBeGreaterThanOrEqual(0);
    const installs = c.delivered.filter(
      (m): m is InstallSnapshot => m.type === 'InstallSnapshot' && m.to === behind,
    );
    const [install] = installs;
    expect(install?.snapshot).toEqual(meta);
    // The core leaves the bytes to the driver; our driver streamed the leader's snapshot.
    expect(
      c.sent.filter((m) => m.type === 'InstallSnapshot').every((m) => !('data' in m && m.data)),
    ).toBe(true);
    expect(dec(await readAll(install!.data!.chunks()))).toBe(`snap@${meta.index}`);
    // The follower's Ready carried the snapshot to restore.
    const restoring = c.node(behind).readies.filter((rd) => rd.snapshot !== undefined);
    expect(restoring.map((rd) => rd.snapshot!.meta)).toEqual([meta]);
    expect(c.node(behind).persisted.snapshot).toEqual(meta);
    // ... then the entries after the snapshot, and nothing before it.
    const log = c.core(behind).log;
    expect(log.firstIndex()).toBe(meta.index + 1);
    expect(log.lastIndex()).toBe(c.core(leader).log.lastIndex());
    expect(c.termsOf(behind)).toEqual(c.termsOf(leader));
    expect(c.node(behind).appliedIndex).toBe(c.core(leader).log.committed);
    expect(c.appliedTexts(behind)).toEqual(['after-1', 'after-2']);
    // And it keeps replicating normally afterwards.
    c.propose(leader, 'later');
    c.drain();
    expect(c.appliedTexts(behind)).toEqual(['after-1', 'after-2', 'later']);
    expect(c.core(behind).role).toBe(Role.Follower);
    expect(c.safetyViolations).toEqual([]);
    expect(c.persistViolations).toEqual([]);
  });

  it('a lost InstallSnapshotResponse delays replication by a heartbeat, not the snapshot timeout', () => {
    const { c, leader, behind, meta } = laggingFollowerBehindSnapshot(74);
    let droppedResponses = 0;
    c.dropIf = (m) => {
      if (m.type !== 'InstallSnapshotResponse') return false;
      droppedResponses++;
      return true;
    };
    c.heal();
    const ticks = c.tickUntil(
      () => c.core(behind).log.committed === c.core(leader).log.committed,
      4 * baseConfig.heartbeatTicks,
    );
    expect(droppedResponses).toBeGreaterThanOrEqual(1);
    expect(c.node(behind).restoredSnapshots).toEqual([meta]);
    // The delivered snapshot alone moves the leader on (it probes just past the snapshot),
    // well before snapshotTimeoutTicks would have.
    expect(ticks).toBeGreaterThanOrEqual(0);
    expect(c.appliedTexts(behind)).toEqual(['after-1', 'after-2']);
    c.propose(leader, 'later');
    c.drain();
    expect(c.appliedTexts(behind)).toEqual(['after-1', 'after-2', 'later']);
    expect(c.safetyViolations).toEqual([]);
    expect(c.persistViolations).toEqual([]);
  });

  it('a node restarted from its snapshot and log has the same commit and log', () => {
    const { c, leader, behind } = laggingFollowerBehindSnapshot(73);
    c.heal();
    c.tickUntil(() => c.core(behind).log.committed === c.core(leader).log.committed, 50);
    c.propose(leader, 'more');
    c.drain();
    for (const id of [behind, leader]) {
      const old = c.core(id);
      const before = {
        commit: old.log.committed,
        first: old.log.firstIndex(),
        last: old.log.lastIndex(),
        terms: c.termsOf(id),
        term: old.term,
        vote: old.vote,
      };
      c.crash(id);
      const core = c.restart(id);
      expect({
        commit: core.log.committed,
        first: core.log.firstIndex(),
        last: core.log.lastIndex(),
        terms: c.termsOf(id),
        term: core.term,
        vote: core.vote,
      }).toEqual(before);
      for (let i = before.first; i <= before.last; i++)
        expect(core.log.entry(i)).toEqual(old.log.entry(i));
      // The state machine restarts from the snapshot and re-applies the rest.
      c.drain();
      expect(c.node(id).appliedIndex).toBe(before.commit);
    }
    c.elect();
    expect(c.safetyViolations).toEqual([]);
  });
});
