import { NotLeaderError, TransferNotPossibleError } from '../../src/errors.js';
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

  it('a transfer to the leader itself abandons a pending transfer', () => {
    const c = new Cluster(3, { seed: 59 });
    const leader = c.elect();
    const target = c.ids.find((id) => id !== leader)!;
    c.isolate(target);
    c.core(leader).transferLeadership(target);
    expect(() => c.propose(leader, 'refused')).toThrow(NotLeaderError);
    c.core(leader).transferLeadership(leader);
    expect(() => c.propose(leader, 'accepted')).not.toThrow();
  });

  describe('towards a member that is down', () => {
    /** A 3-node cluster whose member `target` crashed long enough ago for the leader to know. */
    function targetDown(seed: number) {
      const c = new Cluster(3, { seed });
      const leader = c.elect();
      const target = c.ids.find((id) => id !== leader)!;
      c.crash(target);
      c.tick(baseConfig.electionTicksMin + 1);
      expect(c.leaders()).toEqual([leader]);
      return { c, leader, target, term: c.core(leader).term };
    }

    it('is refused at once, and writes keep working', () => {
      const { c, leader, target } = targetDown(55);
      expect(() => c.core(leader).transferLeadership(target)).toThrow(TransferNotPossibleError);
      expect(() => c.core(leader).transferLeadership(target)).toThrow(
        `cannot transfer leadership to ${target}`,
      );
      expect(() => c.propose(leader, 'while the target is down')).not.toThrow();
      c.drain();
      const third = c.ids.find((id) => id !== leader && id !== target)!;
      expect(c.appliedTexts(third)).toEqual(['while the target is down']);
    });

    it('repeated transfers do not freeze writes, even one accepted just before the leader knew', () => {
      const c = new Cluster(3, { seed: 56 });
      const leader = c.elect();
      const target = c.ids.find((id) => id !== leader)!;
      c.crash(target);
      // The leader heard from the target a moment ago: this one is accepted and pending.
      c.core(leader).transferLeadership(target);
      expect(() => c.propose(leader, 'refused')).toThrow(NotLeaderError);
      // Asked again on every tick (as a client retrying every 100 ms would), with a write each.
      let accepted = 0;
      const rounds = 4 * baseConfig.electionTicksMax;
      for (let k = 0; k < rounds; k++) {
        try {
          c.core(leader).transferLeadership(target);
        } catch (e) {
          expect(e).toBeInstanceOf(TransferNotPossibleError);
        }
        try {
          c.propose(leader, `w${k}`);
          accepted++;
        } catch (e) {
          expect(e).toBeInstanceOf(NotLeaderError);
        }
        c.tick();
      }
      // Only the first transfer's own deadline (one election timeout) refused writes.
      expect(c.leaders()).toEqual([leader]);
      expect(accepted).toBeGreaterThanOrEqual(rounds - baseConfig.electionTicksMin);
    });

    it('a repeat for the pending target is ignored: it does not extend the deadline', () => {
      const c = new Cluster(3, { seed: 57 });
      const leader = c.elect();
      const target = c.ids.find((id) => id !== leader)!;
      c.isolate(target);
      c.core(leader).transferLeadership(target);
      c.tick(baseConfig.electionTicksMin - 1);
      c.core(leader).transferLeadership(target); // the same target, still pending: a no-op
      expect(() => c.propose(leader, 'still pending')).toThrow(NotLeaderError);
      c.tick(1);
      expect(() => c.propose(leader, 'the transfer gave up')).not.toThrow();
    });

    it('CheckQuorum still steps down an isolated leader that keeps being asked to transfer', () => {
      const c = new Cluster(3, { seed: 58 });
      const leader = c.elect();
      const target = c.ids.find((id) => id !== leader)!;
      c.isolate(leader);
      const steppedDown = c.tickUntil(
        () => {
          try {
            c.core(leader).transferLeadership(target);
          } catch (e) {
            if (!(e instanceof TransferNotPossibleError || e instanceof NotLeaderError)) throw e;
          }
          return c.core(leader).role !== Role.Leader;
        },
        3 * baseConfig.electionTicksMax,
        [leader],
      );
      expect(steppedDown).toBeGreaterThanOrEqual(0);
      expect(c.core(leader).role).toBe(Role.Follower);
    });
  });
});
