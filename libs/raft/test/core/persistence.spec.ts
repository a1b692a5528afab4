import { TransferNotPossibleError } from '../../src/errors.js';
import { seededRandom } from '../../src/prng.js';
import { RaftCore } from '../../src/raft.js';
import { StorageCorruptionError } from '../../src/storage.js';
import { type RequestVoteResponse, Role } from '../../src/types.js';
import { baseConfig, Cluster, enc, logOfTerms, makeConfig } from './harness.js';

describe('Raft core: restart from durable state', () => {
  it('a node rebuilt from its persisted hard state and entries keeps its term, vote and log', () => {
    const c = new Cluster(3, { seed: 81 });
    const leader = c.elect();
    c.propose(leader, 'a', 'b');
    c.drain();
    for (const id of c.ids) {
      const old = c.core(id);
      const before = {
        term: old.term,
        vote: old.vote,
        commit: old.log.committed,
        terms: c.termsOf(id),
      };
      expect(before.vote).toBe(leader);
      c.crash(id);
      const core = c.restart(id);
      expect({
        term: core.term,
        vote: core.vote,
        commit: core.log.committed,
        terms: c.termsOf(id),
      }).toEqual(before);
      expect(core.role).toBe(Role.Follower);
      c.drain();
    }
    expect(c.elect()).toBeDefined();
    expect(c.safetyViolations).toEqual([]);
  });

  it('refuses to start from a commit index beyond the stored log: committed entries were lost', () => {
    const restore = (commit: number, snapshot: { index: number; term: number } | null) =>
      new RaftCore(makeConfig('n1', ['n1', 'n2', 'n3'], 1), {
        hardState: { term: 2, vote: 'n2', commit },
        snapshot,
        entries: logOfTerms([1, 1, 2], (snapshot?.index ?? 0) + 1),
      });
    expect(() => restore(5, null)).toThrow(StorageCorruptionError);
    expect(() => restore(5, null)).toThrow(
      'storage corruption on node n1 in the restored state at log index 4: ' +
        'commit index 5 is beyond the last stored index 3',
    );
    // The snapshot counts as stored: a commit up to its index, or past it into the log, is fine.
    expect(restore(13, { index: 10, term: 1 }).log.committed).toBe(13);
    expect(restore(4, { index: 10, term: 1 }).log.committed).toBe(10);
    expect(() => restore(14, { index: 10, term: 1 })).toThrow('last stored index 13');
  });

  it('never votes twice in a term across a restart', () => {
    const c = new Cluster(3, { seed: 82, config: { preVote: false } });
    // n1's RequestVote reaches n2 only, and n2's grant is lost.
    c.cut('n1', 'n3');
    c.cut('n2', 'n1');
    expect(c.tickUntil(() => c.core('n1').term === 1, 100, ['n1'])).toBeGreaterThan(0);
    expect(c.core('n2').vote).toBe('n1');
    expect(c.node('n2').persisted.hardState).toMatchObject({ term: 1, vote: 'n1' });
    c.crash('n2');
    c.restart('n2');
    expect(c.core('n2').term).toBe(1);
    expect(c.core('n2').vote).toBe('n1');
    // n3 campaigns in the same term 1: the restarted n2 must refuse.
    expect(c.tickUntil(() => c.core('n3').term === 1, 100, ['n3'])).toBeGreaterThan(0);
    const answers = c.delivered.filter(
      (m): m is RequestVoteResponse =>
        m.type === 'RequestVoteResponse' && m.from === 'n2' && m.to === 'n3',
    );
    expect(answers.map((m) => [m.term, m.voteGranted])).toEqual([[1, false]]);
    expect(c.core('n2').vote).toBe('n1');
    expect(c.leadersByTerm.get(1)).toBeUndefined();
    expect(c.safetyViolations).toEqual([]);
  });
});

describe('Raft core: persistence order (persist before speaking)', () => {
  it('a candidate counts its own vote only once the Ready carrying it was advanced', () => {
    const core = new RaftCore(
      { ...baseConfig, id: 'n1', voters: ['n1'], random: seededRandom(3) },
      { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] },
    );
    let ticks = 0;
    while (!core.hasReady() && ticks++ < 100) core.tick();
    const rd = core.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: 'n1', commit: 0 });
    expect(core.role).toBe(Role.Candidate);
    expect(core.hasReady()).toBe(false);
    core.advance(rd);
    expect(core.role).toBe(Role.Leader);
  });

  it('a leader counts its own entries toward commit only once they are durable', () => {
    const core = new RaftCore(
      { ...baseConfig, id: 'n1', voters: ['n1'], random: seededRandom(3) },
      { hardState: { term: 1, vote: 'n1', commit: 0 }, snapshot: null, entries: [] },
    );
    while (core.role !== Role.Leader) {
      core.tick();
      while (core.hasReady()) core.advance(core.ready());
    }
    const index = core.propose([enc('x')]).index;
    const rd = core.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([index]);
    expect(rd.committedEntries.map((e) => e.index)).not.toContain(index);
    expect(core.log.committed).toBeLessThan(index);
    core.advance(rd);
    expect(core.log.committed).toBe(index);
    const next = core.ready();
    expect(next.hardState?.commit).toBe(index);
    expect(next.committedEntries.map((e) => e.index)).toEqual([index]);
  });

  it('no Ready carries a vote grant, append ack or term it has not made durable', () => {
    let checked = 0;
    for (const seed of [91, 92, 93]) {
      const c = new Cluster(5, { seed });
      const rnd = seededRandom(seed);
      for (let step = 0; step < 60; step++) {
        const r = rnd();
        if (r < 0.2) {
          const a = c.ids.filter(() => rnd() < 0.4);
          c.partition(
            a,
            c.ids.filter((id) => !a.includes(id)),
          );
        } else if (r < 0.3) c.heal();
        else if (r < 0.38) {
          const id = c.pick(rnd());
          if (c.node(id).up) c.crash(id);
          else c.restart(id);
        } else if (r < 0.45) {
          const l = c.leader();
          if (l && c.core(l).log.applied > c.core(l).log.firstIndex()) c.compact(l);
        } else if (r < 0.5) {
          const l = c.leader();
          const to = c.pick(rnd());
          try {
            if (l && to !== l) c.core(l).transferLeadership(to);
          } catch (e) {
            if (!(e instanceof TransferNotPossibleError)) throw e; // a member that is down
          }
        }
        for (const l of c.leaders())
          if (rnd() < 0.7) {
            try {
              c.propose(l, `s${step}`);
            } catch {
              // refused during a transfer
            }
          }
        c.tick(1 + Math.floor(rnd() * 10));
      }
      checked += c.sent.filter(
        (m) =>
          (m.type === 'RequestVoteResponse' && m.voteGranted && !m.preVote) ||
          (m.type === 'AppendEntriesResponse' && m.success) ||
          m.type === 'InstallSnapshotResponse',
      ).length;
      expect(c.persistViolations).toEqual([]);
      expect(c.safetyViolations).toEqual([]);
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('(harness self-check) the order check flags a vote grant whose vote was never persisted', () => {
    const c = new Cluster(3, { seed: 94, config: { preVote: false } });
    const n2 = c.core('n2');
    const ready = n2.ready.bind(n2);
    n2.ready = () => ({ ...ready(), hardState: undefined }); // a core that "forgets" its vote
    expect(c.tickUntil(() => c.core('n1').term === 1, 100, ['n1'])).toBeGreaterThan(0);
    expect(c.persistViolations.some((v) => v.startsWith('n2 -> n1 RequestVoteResponse'))).toBe(
      true,
    );
  });
});
