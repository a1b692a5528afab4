import { NotLeaderError } from '../../src/errors.js';
import { Role } from '../../src/types.js';
import { baseConfig, Cluster } from './harness.js';

describe('Raft core: leadership transfer (thesis 3.10)', () => {
  it('transfers leadership to an up-to-date follower at once, through TimeoutNow', () => {
    const c = new Cluster(3, { seed: 51 });
    const leader = c.elect();
    const term = c.core(leader).term;
    const target = c.ids.find((id) => id !== leader)!;
    c.core(leader).transferLeadership(target);
    c.drain(); // no tick needed
    expect(c.delivered.some((m) => m.type === 'TimeoutNow' && m.to === target)).toBe(true);
    expect(c.leaders()).toEqual([target]);
    expect(c.core(target).term).toBe(term + 1);
    expect(c.core(leader).role).toBe(Role.Follower);
    expect(c.core(leader).leader).toBe(target);
    c.propose(target, 'from the new leader');
    c.drain();
    for (const id of c.ids) expect(c.appliedTexts(id)).toEqual(['from the new leader']);
  });

  it('catches a lagging target up before sending TimeoutNow', () => {
    const c = new Cluster(3, { seed: 52 });
    const leader = c.elect();
    const term = c.core(leader).term;
    const target = c.ids.find((id) => id !== leader)!;
    c.isolate(target);
    const first = c.propose(leader, 'a', 'b', 'c', 'd', 'e');
    c.drain();
    const last = first + 4;
    expect(c.core(leader).log.committed).toBe(last);
    expect(c.core(target).log.lastIndex()).toBeLessThan(first);
    c.heal();
    // Observe the target's log at the moment TimeoutNow reaches it.
    const targetLastAtTimeoutNow: number[] = [];
    c.dropIf = (m) => {
      if (m.type === 'TimeoutNow') targetLastAtTimeoutNow.push(c.core(m.to).log.lastIndex());
      return false;
    };
    c.core(leader).transferLeadership(target);
    const ticks = c.tickUntil(() => c.leader() === target, 3 * baseConfig.electionTicksMin);
    expect(ticks).toBeGreaterThanOrEqual(0);
    expect(ticks).toBeLessThan(baseConfig.electionTicksMin);
    // TimeoutNow went out only once the target held the whole log.
    const timeoutNows = c.delivered.filter((m) => m.type === 'TimeoutNow');
    expect(timeoutNows.map((m) => m.to)).toEqual([target]);
    expect(targetLastAtTimeoutNow).toEqual([last]);
    expect(c.core(target).term).toBe(term + 1);
    expect(c.core(target).log.term(last)).toBe(term);
    expect(c.leaders()).toEqual([target]);
  });

  it('refuses proposals while a transfer is in progress', () => {
    const c = new Cluster(3, { seed: 53 });
    const leader = c.elect();
    const target = c.ids.find((id) => id !== leader)!;
    c.isolate(target);
    c.core(leader).transferLeadership(target);
    c.drain();
    expect(c.core(leader).role).toBe(Role.Leader);
    expect(() => c.propose(leader, 'during transfer')).toThrow(NotLeaderError);
  });

  it('abandons a transfer to an unreachable node after an election timeout and keeps leading', () => {
    const c = new Cluster(3, { seed: 54 });
    const leader = c.elect();
    const term = c.core(leader).term;
    const target = c.ids.find((id) => id !== leader)!;
    c.isolate(target);
    c.core(leader).transferLeadership(target);
    c.tick(baseConfig.electionTicksMin);
    expect(c.core(leader).role).toBe(Role.Leader);
    expect(c.core(leader).term).toBe(term);
    expect(() => c.propose(leader, 'after the transfer gave up')).not.toThrow();
    c.drain();
    const third = c.ids.find((id) => id !== leader && id !== target)!;
    expect(c.appliedTexts(third)).toEqual(['after the transfer gave up']);
    // The target, once back, does not take over: the transfer was abandoned.
    c.heal();
    c.tick(3 * baseConfig.electionTicksMax);
    expect(c.leaders()).toEqual([leader]);
    expect(c.core(leader).term).toBe(term);
  });
});
