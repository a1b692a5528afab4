import { type RequestVote, Role } from '../../src/types.js';
import { baseConfig, Cluster } from './harness.js';

function voteRequest(
  c: Cluster,
  from: string,
  to: string,
  term: number,
  extra: Partial<RequestVote> = {},
): RequestVote {
  const log = c.core(from).log;
  return {
    type: 'RequestVote',
    from,
    to,
    term,
    lastLogIndex: log.lastIndex(),
    lastLogTerm: log.lastTerm(),
    preVote: false,
    transfer: false,
    ...extra,
  };
}

describe('Raft core: PreVote (thesis 9.6)', () => {
  it('a partitioned node that times out repeatedly stays a pre-candidate and keeps its term', () => {
    const c = new Cluster(3, { seed: 41 });
    const leader = c.elect();
    const term = c.core(leader).term;
    const x = c.ids.find((id) => id !== leader)!;
    c.isolate(x);
    c.tick(10 * baseConfig.electionTicksMax);
    const preVotes = c.sent.filter((m) => m.type === 'RequestVote' && m.from === x);
    expect(preVotes.length).toBeGreaterThanOrEqual(2 * 5); // it campaigned about 10 times
    expect(preVotes.every((m) => m.type === 'RequestVote' && m.preVote)).toBe(true);
    expect(c.core(x).term).toBe(term);
    expect(c.core(x).role).toBe(Role.PreCandidate);
    expect(c.node(x).persisted.hardState.term).toBe(term);
  });

  it('a healed partitioned node does not disrupt the leader', () => {
    const c = new Cluster(3, { seed: 42 });
    const leader = c.elect();
    const term = c.core(leader).term;
    const x = c.ids.find((id) => id !== leader)!;
    c.isolate(x);
    c.tick(5 * baseConfig.electionTicksMax);
    c.heal();
    c.tick(5 * baseConfig.electionTicksMax);
    expect(c.leaders()).toEqual([leader]);
    expect(c.core(leader).term).toBe(term);
    expect(c.core(x).role).toBe(Role.Follower);
    expect(c.core(x).leader).toBe(leader);
    expect(c.core(x).term).toBe(term);
    c.propose(leader, 'after');
    c.drain();
    expect(c.appliedTexts(x)).toEqual(['after']);
  });
});

describe('Raft core: CheckQuorum (thesis 6.2)', () => {
  it('a leader cut off from the majority steps down within about an election timeout', () => {
    const c = new Cluster(5, { seed: 43 });
    const leader = c.elect();
    c.tick(7); // mid-way through a CheckQuorum period
    const term = c.core(leader).term;
    c.isolate(leader);
    const ticks = c.tickUntil(() => c.core(leader).role !== Role.Leader, 100);
    expect(ticks).toBeGreaterThan(0);
    // Heard-from flags are sampled once per electionTicksMin: at worst two periods.
    expect(ticks).toBeLessThanOrEqual(2 * baseConfig.electionTicksMin);
    expect(c.core(leader).role).toBe(Role.Follower);
    expect(c.core(leader).term).toBe(term);
    // Meanwhile the majority elected a new leader in a later term.
    const others = c.ids.filter((id) => id !== leader);
    c.tickUntil(() => others.some((id) => c.core(id).role === Role.Leader), 100);
    const newLeader = others.find((id) => c.core(id).role === Role.Leader);
    expect(newLeader).toBeDefined();
    expect(c.core(newLeader!).term).toBeGreaterThan(term);
  });

  it('a leader that still hears from a majority keeps leading', () => {
    const c = new Cluster(5, { seed: 44 });
    const leader = c.elect();
    const term = c.core(leader).term;
    const [x, y] = c.others(leader);
    c.isolate(x, y);
    c.tick(10 * baseConfig.electionTicksMax);
    expect(c.core(leader).role).toBe(Role.Leader);
    expect(c.core(leader).term).toBe(term);
  });

  it('a follower that heard from the leader recently ignores a RequestVote of a higher term', () => {
    const c = new Cluster(3, { seed: 45 });
    const leader = c.elect();
    const term = c.core(leader).term;
    const [f, candidate] = c.others(leader);
    c.tick(1);
    const before = c.delivered.length;
    c.core(f).step(voteRequest(c, candidate, f, term + 1));
    c.core(f).step(voteRequest(c, candidate, f, term + 1, { preVote: true }));
    c.drain();
    expect(c.core(f).term).toBe(term);
    expect(c.core(f).vote).not.toBe(candidate);
    expect(c.core(f).leader).toBe(leader);
    const replies = c.delivered
      .slice(before)
      .filter((m) => m.type === 'RequestVoteResponse' && m.from === f);
    expect(replies).toEqual([]);
  });

  it('a follower in its leader lease still votes when the request carries `transfer`', () => {
    const c = new Cluster(3, { seed: 45 });
    const leader = c.elect();
    const term = c.core(leader).term;
    const [f, candidate] = c.others(leader);
    c.tick(1);
    c.isolate(candidate); // only f hears the request; the reply is not delivered
    c.core(f).step(voteRequest(c, candidate, f, term + 1, { transfer: true }));
    c.drain();
    expect(c.core(f).term).toBe(term + 1);
    expect(c.core(f).vote).toBe(candidate);
    const grants = c.sent.filter(
      (m) => m.type === 'RequestVoteResponse' && m.from === f && m.to === candidate,
    );
    expect(grants.map((m) => m.type === 'RequestVoteResponse' && m.voteGranted)).toEqual([true]);
  });

  it('a follower whose leader went silent grants a higher-term vote', () => {
    const c = new Cluster(3, { seed: 46 });
    const leader = c.elect();
    const term = c.core(leader).term;
    const [f, candidate] = c.others(leader);
    c.isolate(leader);
    // Let f's election clock pass the lease without hearing from the leader (f itself may not
    // time out yet: its randomized timeout is at least electionTicksMin).
    c.tick(baseConfig.electionTicksMin, [f]);
    c.isolate(candidate);
    c.core(f).step(voteRequest(c, candidate, f, term + 1));
    c.drain();
    expect(c.core(f).term).toBe(term + 1);
    expect(c.core(f).vote).toBe(candidate);
  });
});
