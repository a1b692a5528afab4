import { MembershipChangeError } from '../../src/errors.js';
import { learnersOf, type MembershipChange, votersOf } from '../../src/membership.js';
import { EntryType, Role } from '../../src/types.js';
import { baseConfig, Cluster } from './harness.js';

function change(c: Cluster, leader: string, ch: MembershipChange): number {
  const { index } = c.core(leader).proposeMembership(ch);
  c.drain();
  return index;
}

function refusal(fn: () => unknown): MembershipChangeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof MembershipChangeError) return e;
    throw e;
  }
  throw new Error('the change was not refused');
}

/** A 3-voter cluster with n4 added as a learner and caught up. */
function withLearner(seed: number): { c: Cluster; leader: string } {
  const c = new Cluster(3, { seed });
  const leader = c.elect();
  c.propose(leader, 'a', 'b');
  c.drain();
  c.join('n4');
  change(c, leader, { type: 'addLearner', id: 'n4', address: 'h4:1' });
  c.tick(2 * baseConfig.heartbeatTicks);
  return { c, leader };
}

describe('Raft core: membership changes (thesis 4, single-server)', () => {
  it('a learner receives the whole log but is not needed to commit', () => {
    const { c, leader } = withLearner(501);
    expect(c.appliedTexts('n4')).toEqual(['a', 'b']);
    expect(learnersOf(c.core('n4').membership())).toEqual(['n4']);
    expect(votersOf(c.core(leader).membership())).toEqual(['n1', 'n2', 'n3']);
    c.isolate('n4');
    c.propose(leader, 'c');
    c.drain();
    expect(c.core(leader).log.committed).toBe(c.core(leader).log.lastIndex());
    expect(c.core(leader).status().progress['n4']).toBeDefined();
  });

  it('a learner never campaigns, even cut off from the leader for many timeouts', () => {
    const { c } = withLearner(502);
    c.isolate('n4');
    c.tick(20 * baseConfig.electionTicksMax);
    expect(c.sent.filter((m) => m.type === 'RequestVote' && m.from === 'n4')).toEqual([]);
    expect(c.core('n4').role).toBe(Role.Follower);
  });

  it('a learner cut off from its leader forgets it and answers vote requests', () => {
    const { c, leader } = withLearner(514);
    expect(c.core('n4').leader).toBe(leader);
    c.isolate(leader);
    c.tick(2 * baseConfig.electionTicksMax, ['n4']);
    expect(c.core('n4').leader).toBe('');
    const term = c.core('n4').term;
    c.core('n4').step({
      type: 'RequestVote',
      from: 'n2',
      to: 'n4',
      term: term + 1,
      lastLogIndex: c.core('n4').log.lastIndex(),
      lastLogTerm: c.core('n4').log.lastTerm(),
      preVote: true,
      transfer: false,
    });
    const rd = c.core('n4').ready();
    expect(rd.messages).toEqual([
      expect.objectContaining({ type: 'RequestVoteResponse', to: 'n2', voteGranted: true }),
    ]);
  });

  it("a candidate does not count a learner's vote", () => {
    const { c, leader } = withLearner(503);
    const [x, y] = c.others(leader).filter((id) => id !== 'n4') as [string, string];
    c.isolate(leader, y);
    c.tickUntil(() => c.core(x).role === Role.PreCandidate, 10 * baseConfig.electionTicksMax, [x]);
    // Candidates ask only their voters; a learner's grant (it may answer) decides nothing.
    expect(c.sent.some((m) => m.type === 'RequestVote' && m.from === x && m.to === 'n4')).toBe(
      false,
    );
    c.core(x).step({
      type: 'RequestVoteResponse',
      from: 'n4',
      to: x,
      term: c.core(x).term + 1,
      voteGranted: true,
      preVote: true,
    });
    expect(c.core(x).role).toBe(Role.PreCandidate);
  });

  it('promotion is refused until the learner is caught up, then makes it a voter', () => {
    const { c, leader } = withLearner(504);
    c.isolate('n4');
    for (let i = 0; i < 10; i++) c.propose(leader, `x${i}`);
    c.drain();
    const e = refusal(() => c.core(leader).proposeMembership({ type: 'promote', id: 'n4' }));
    expect(e.code).toBe('precondition');
    expect(e.message).toMatch(/not caught up/);
    c.heal();
    c.tick(2 * baseConfig.heartbeatTicks);
    const index = change(c, leader, { type: 'promote', id: 'n4' });
    c.tick(2 * baseConfig.heartbeatTicks);
    for (const id of c.ids) {
      const m = c.core(id).membership();
      expect(m.index).toBe(index);
      expect(votersOf(m)).toEqual(['n1', 'n2', 'n3', 'n4']);
    }
    // Four voters: a majority is three, so two cut off stop commits.
    const [x] = c.others(leader).filter((id) => id !== 'n4') as [string];
    c.isolate(x, 'n4');
    const before = c.core(leader).log.committed;
    c.propose(leader, 'stalls');
    c.drain();
    expect(c.core(leader).log.committed).toBe(before);
  });

  it('allows one change at a time, and only after the leader committed an entry of its term', () => {
    const c = new Cluster(3, { seed: 505 });
    const leader = c.elect();
    c.join('n4');
    c.join('n5');
    const [x, y] = c.others(leader);
    c.isolate(x, y);
    c.core(leader).proposeMembership({ type: 'addLearner', id: 'n4', address: '' });
    c.drain();
    const e = refusal(() =>
      c.core(leader).proposeMembership({ type: 'addLearner', id: 'n5', address: '' }),
    );
    expect(e.code).toBe('precondition');
    expect(e.message).toMatch(/not committed yet/);
    // A new leader whose no-op is not committed yet refuses too (the 2015 fix).
    c.heal();
    c.isolate(leader);
    c.dropIf = (m) => m.type === 'AppendEntriesResponse';
    const ticks = c.tickUntil(
      () => c.leaders().some((id) => id !== leader),
      50 * baseConfig.electionTicksMax,
    );
    expect(ticks).toBeGreaterThanOrEqual(0);
    const next = c.leaders().find((id) => id !== leader)!;
    const e2 = refusal(() =>
      c.core(next).proposeMembership({ type: 'addLearner', id: 'n5', address: '' }),
    );
    expect(e2.code).toBe('precondition');
    expect(e2.message).toMatch(/not committed an entry of its term/);
    c.dropIf = () => false;
    c.tick(2 * baseConfig.heartbeatTicks);
    expect(() =>
      c.core(next).proposeMembership({ type: 'addLearner', id: 'n5', address: '' }),
    ).not.toThrow();
  });

  it('refuses duplicate ids and addresses, unknown ids and removing the last voter', () => {
    const { c, leader } = withLearner(506);
    const leaderCore = c.core(leader);
    expect(
      refusal(() => leaderCore.proposeMembership({ type: 'addLearner', id: 'n4', address: 'h9:1' }))
        .code,
    ).toBe('exists');
    expect(
      refusal(() => leaderCore.proposeMembership({ type: 'addVoter', id: 'n9', address: 'h4:1' }))
        .code,
    ).toBe('exists');
    expect(refusal(() => leaderCore.proposeMembership({ type: 'promote', id: 'n9' })).code).toBe(
      'not-found',
    );
    expect(refusal(() => leaderCore.proposeMembership({ type: 'remove', id: 'n9' })).code).toBe(
      'not-found',
    );
    expect(
      refusal(() => leaderCore.proposeMembership({ type: 'addLearner', id: '', address: '' })).code,
    ).toBe('invalid');
    const solo = new Cluster(1, { seed: 507 });
    const only = solo.elect();
    expect(
      refusal(() => solo.core(only).proposeMembership({ type: 'remove', id: only })).code,
    ).toBe('precondition');
  });

  it('a removed follower stops taking part and does not disrupt the cluster', () => {
    const c = new Cluster(3, { seed: 508 });
    const leader = c.elect();
    const [x] = c.others(leader);
    change(c, leader, { type: 'remove', id: x });
    c.tick(2 * baseConfig.heartbeatTicks);
    expect(votersOf(c.core(x).membership())).not.toContain(x);
    const term = c.core(leader).term;
    c.tick(20 * baseConfig.electionTicksMax);
    expect(c.sent.filter((m) => m.type === 'RequestVote' && m.from === x)).toEqual([]);
    expect(c.core(leader).term).toBe(term);
    expect(c.leaders()).toEqual([leader]);
    c.propose(leader, 'without x');
    c.drain();
    expect(c.appliedTexts(x)).not.toContain('without x');
  });

  it('a node removed while cut off cannot disrupt the cluster once it is back (PreVote)', () => {
    const c = new Cluster(3, { seed: 509 });
    const leader = c.elect();
    const [x] = c.others(leader);
    c.isolate(x);
    change(c, leader, { type: 'remove', id: x });
    c.tick(10 * baseConfig.electionTicksMax);
    const term = c.core(leader).term;
    c.heal();
    c.tick(20 * baseConfig.electionTicksMax);
    expect(c.core(leader).term).toBe(term);
    expect(c.leaders()).toEqual([leader]);
    expect(c.core(x).term).toBe(term);
  });

  it('a leader that removes itself leads until the change commits, then steps down', () => {
    const c = new Cluster(3, { seed: 510 });
    const leader = c.elect();
    const sentBefore = c.sent.length;
    const index = change(c, leader, { type: 'remove', id: leader });
    expect(c.core(leader).role).toBe(Role.Follower);
    expect(c.core(leader).log.committed).toBeGreaterThanOrEqual(index);
    const others = c.others(leader);
    c.tickUntil(() => others.some((id) => c.core(id).role === Role.Leader), 50, others);
    const next = c.leader()!;
    expect(next).not.toBe(leader);
    const term = c.core(next).term;
    c.tick(20 * baseConfig.electionTicksMax);
    expect(c.core(next).term).toBe(term);
    const campaigned = c.sent
      .slice(sentBefore)
      .filter((m) => m.type === 'RequestVote' && m.from === leader);
    expect(campaigned).toEqual([]);
    c.propose(next, 'two voters');
    c.drain();
    expect(c.core(next).log.committed).toBe(c.core(next).log.lastIndex());
  });

  it('a configuration is in force once in the log and reverts when its entry is overwritten', () => {
    const c = new Cluster(3, { seed: 511 });
    const leader = c.elect();
    c.join('n4');
    c.isolate(leader);
    c.core(leader).proposeMembership({ type: 'addLearner', id: 'n4', address: '' });
    c.drain();
    expect(
      c
        .core(leader)
        .membership()
        .members.map((m) => m.id),
    ).toContain('n4');
    const [x, y] = c.others(leader);
    c.tick(10 * baseConfig.electionTicksMax, [x, y]);
    const next = c.leaders().find((id) => id !== leader)!;
    c.propose(next, 'overwrites');
    c.drain();
    c.heal();
    c.tick(4 * baseConfig.electionTicksMax);
    expect(
      c
        .core(leader)
        .membership()
        .members.map((m) => m.id),
    ).toEqual(['n1', 'n2', 'n3']);
    expect(c.core(leader).membership().index).toBe(0);
  });

  it('every snapshot carries the configuration, restored on restart and sent to a far learner', () => {
    const c = new Cluster(3, { seed: 512 });
    const leader = c.elect();
    c.join('n4');
    change(c, leader, { type: 'addLearner', id: 'n4', address: 'h4:1' });
    c.propose(leader, 'p', 'q');
    c.drain();
    for (const id of ['n1', 'n2', 'n3']) c.compact(id);
    c.join('n5');
    const added = change(c, leader, { type: 'addLearner', id: 'n5', address: 'h5:1' });
    c.tick(2 * baseConfig.heartbeatTicks);
    // n5 was behind the compacted log: it got the snapshot, with the membership as of then.
    expect(c.node('n5').restoredSnapshots.length).toBe(1);
    expect(c.core('n5').membership().index).toBe(added);
    expect(c.core('n5').log.entry(added).type).toBe(EntryType.Config);
    const meta = c.node(leader).persisted.snapshot!;
    expect(meta.membership?.members.map((m) => m.id)).toEqual(['n1', 'n2', 'n3', 'n4']);
    c.crash(leader);
    c.restart(leader);
    expect(
      c
        .core(leader)
        .membership()
        .members.map((m) => m.id),
    ).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    c.compact('n5');
    c.crash('n5');
    c.restart('n5');
    expect(learnersOf(c.core('n5').membership())).toEqual(['n4', 'n5']);
  });

  it('a leader refuses to transfer leadership to a learner', () => {
    const { c, leader } = withLearner(513);
    expect(() => c.core(leader).transferLeadership('n4')).toThrow(/learner/);
  });
});
