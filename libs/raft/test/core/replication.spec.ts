import { NotLeaderError, ProposalDroppedError } from '../../src/errors.js';
import { seededRandom } from '../../src/prng.js';
import { type AppendEntriesResponse, type Entry, type Message, Role } from '../../src/types.js';
import { Cluster, dec, logOfTerms } from './harness.js';

const rejectionsTo = (msgs: Message[], leader: string, from: string): AppendEntriesResponse[] =>
  msgs.filter(
    (m): m is AppendEntriesResponse =>
      m.type === 'AppendEntriesResponse' && m.to === leader && m.from === from && !m.success,
  );

function sameEntry(a: Entry, b: Entry): boolean {
  return (
    a.index === b.index && a.term === b.term && a.type === b.type && dec(a.data) === dec(b.data)
  );
}

describe('Raft core: log replication (paper 5.3)', () => {
  it('replicates, commits and applies proposals in order on every node', () => {
    const c = new Cluster(3, { seed: 21 });
    const leader = c.elect();
    const first = c.propose(leader, 'a', 'b');
    c.propose(leader, 'c');
    c.drain();
    for (const id of c.ids) {
      const core = c.core(id);
      expect(core.log.committed).toBe(first + 2);
      expect(c.appliedTexts(id)).toEqual(['a', 'b', 'c']);
      expect(c.node(id).applied.map((e) => e.index)).toEqual([1, 2, 3, 4]);
    }
    expect(c.safetyViolations).toEqual([]);
  });

  it("tells followers a new commit index at the leader's next tick (or with the next entries), not with a message of its own at once", () => {
    const c = new Cluster(3, { seed: 23 });
    const leader = c.elect();
    const followers = c.others(leader);
    const before = c.sent.length;
    const index = c.propose(leader, 'x');
    // Everything but the tick that would send the news.
    c.drain(() => c.core(leader).log.committed >= index && c.queue.length === 0);
    expect(c.core(leader).log.committed).toBe(index);
    expect(c.core(leader).commitNewsPending).toBe(true);
    const appends = c.sent.slice(before).filter((m) => m.type === 'AppendEntries');
    // One AppendEntries per follower carried the entry; none was sent for the commit alone.
    expect(appends.map((m) => m.to).sort()).toEqual([...followers].sort());
    for (const f of followers) expect(c.core(f).log.committed).toBeLessThan(index);
    // The next proposal's entries carry it...
    const next = c.propose(leader, 'y');
    c.drain(() => followers.every((f) => c.core(f).log.committed >= index));
    for (const f of followers) expect(c.core(f).log.committed).toBe(index);
    // ...and a tick sends what is left, on its own.
    c.drain(() => c.core(leader).log.committed >= next && c.queue.length === 0);
    c.core(leader).tick();
    c.drain(() => followers.every((f) => c.core(f).log.committed >= next));
    for (const f of followers) expect(c.core(f).log.committed).toBe(next);
    expect(c.core(leader).commitNewsPending).toBe(false);
    expect(c.safetyViolations).toEqual([]);
  });

  it('commits with a majority while a minority is partitioned, and catches the minority up', () => {
    const c = new Cluster(5, { seed: 22 });
    const leader = c.elect();
    const [x, y] = c.others(leader);
    c.isolate(x, y);
    c.propose(leader, 'p1', 'p2');
    c.drain();
    expect(c.core(leader).log.committed).toBe(3);
    expect(c.core(x).log.lastIndex()).toBe(1);
    c.heal();
    c.tick(4);
    for (const id of c.ids) expect(c.appliedTexts(id)).toEqual(['p1', 'p2']);
  });

  describe('a follower with a conflicting or missing suffix (figure 7)', () => {
    // The leader of term 8 and followers (a)-(f) of figure 7 of the paper.
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const figure7: Record<string, number[]> = {
      n2: [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a) missing an entry
      n3: [1, 1, 1, 4], // (b) missing many
      n4: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c) one extra uncommitted entry
      n5: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra entries of term 7
      n6: [1, 1, 1, 4, 4, 4, 4], // (e) missing, with extra entries of term 4
      n7: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f) a leader of terms 2 and 3 that never committed
    };
    // First index at which each follower's log differs from the leader's.
    const divergeAt: Record<string, number> = { n2: 10, n3: 5, n4: 11, n5: 11, n6: 6, n7: 4 };

    function figure7Cluster(): Cluster {
      const initial: Record<
        string,
        { hardState: { term: number; vote: string; commit: number }; entries: Entry[] }
      > = { n1: { hardState: { term: 7, vote: '', commit: 3 }, entries: logOfTerms(leaderLog) } };
      for (const [id, terms] of Object.entries(figure7))
        initial[id] = { hardState: { term: 7, vote: '', commit: 3 }, entries: logOfTerms(terms) };
      return new Cluster(7, { seed: 7, initial });
    }

    it('the leader of term 8 overwrites every follower log with its own', () => {
      const c = figure7Cluster();
      expect(
        c.tickUntil(() => c.core('n1').term === 8 && c.leader() === 'n1', 100, ['n1']),
      ).toBeGreaterThan(0);
      c.drain();
      const expected = [...leaderLog, 8];
      for (const id of c.ids) {
        expect({ id, terms: c.termsOf(id) }).toEqual({ id, terms: expected });
        expect(c.core(id).log.committed).toBe(11);
        for (let i = 1; i <= 11; i++)
          expect(sameEntry(c.core(id).log.entry(i), c.core('n1').log.entry(i))).toBe(true);
      }
      expect(c.safetyViolations).toEqual([]);
      expect(c.persistViolations).toEqual([]);
    });

    it.each(Object.keys(figure7))(
      'fast backtracking converges on %s in far fewer rejections than its divergent suffix',
      (id) => {
        const c = figure7Cluster();
        c.tickUntil(() => c.leader() === 'n1', 100, ['n1']);
        c.drain();
        expect(c.termsOf(id)).toEqual([...leaderLog, 8]);
        const rejections = rejectionsTo(c.delivered, 'n1', id).filter((m) => m.term === 8);
        // Entry-by-entry backtracking would need one round trip per divergent entry below 11.
        const divergent = 11 - divergeAt[id]!; // id is one of its keys
        expect(rejections.length).toBeLessThanOrEqual(2);
        if (divergent >= 3) expect(rejections.length).toBeLessThan(divergent);
      },
    );
  });

  it('keeps the Log Matching property under random proposals, partitions and crashes', () => {
    for (const seed of [31, 32, 33, 34]) {
      const c = new Cluster(5, { seed });
      const rnd = seededRandom(seed);
      for (let step = 0; step < 80; step++) {
        const r = rnd();
        if (r < 0.2) {
          const a = c.ids.filter(() => rnd() < 0.4);
          c.partition(
            a,
            c.ids.filter((id) => !a.includes(id)),
          );
        } else if (r < 0.3) {
          c.heal();
        } else if (r < 0.38) {
          const id = c.pick(rnd());
          if (c.node(id).up) c.crash(id);
          else c.restart(id);
        }
        // Proposals land on every self-proclaimed leader, stale ones included.
        for (const l of c.leaders()) if (rnd() < 0.7) c.propose(l, `s${seed}.${step}.${l}`);
        c.tick(1 + Math.floor(rnd() * 8));
      }
      // Log Matching: same index and term implies identical logs up to that index.
      for (const a of c.ids)
        for (const b of c.ids) {
          if (a >= b) continue;
          const la = c.core(a).log;
          const lb = c.core(b).log;
          const last = Math.min(la.lastIndex(), lb.lastIndex());
          for (let i = last; i >= 1; i--) {
            if (la.term(i) !== undefined && la.term(i) === lb.term(i)) {
              for (let j = 1; j <= i; j++)
                expect({ a, b, j, same: sameEntry(la.entry(j), lb.entry(j)) }).toEqual({
                  a,
                  b,
                  j,
                  same: true,
                });
              break;
            }
          }
        }
      // And once healed, everyone converges on one log and one applied sequence.
      c.heal();
      for (const id of c.ids) if (!c.node(id).up) c.restart(id);
      const leader = c.elect(1000);
      c.propose(leader, 'final');
      c.tick(10);
      const reference = c.termsOf(leader);
      for (const id of c.ids) {
        expect(c.termsOf(id)).toEqual(reference);
        expect(c.core(id).log.committed).toBe(reference.length);
        expect(c.node(id).appliedIndex).toBe(reference.length);
      }
      expect(c.safetyViolations).toEqual([]);
    }
  });

  it('a stale duplicate AppendEntries does not truncate entries the follower already holds', () => {
    const c = new Cluster(3, { seed: 25 });
    const leader = c.elect();
    const follower = c.ids.find((id) => id !== leader)!;
    c.propose(leader, 'a');
    c.drain();
    const stale = c.delivered.filter((m) => m.type === 'AppendEntries' && m.to === follower);
    c.propose(leader, 'b', 'c');
    c.drain();
    const before = c.termsOf(follower);
    expect(before.length).toBe(4);
    const from = c.delivered.length;
    for (const m of stale) c.core(follower).step(m); // re-delivered late, out of order
    c.drain();
    expect(c.termsOf(follower)).toEqual(before);
    expect(c.core(follower).log.committed).toBe(4);
    const acks = c.delivered
      .slice(from)
      .filter((m) => m.type === 'AppendEntriesResponse' && m.from === follower);
    expect(acks.every((m) => m.type === 'AppendEntriesResponse' && m.success)).toBe(true);
  });

  it('a follower commits no further than the last entry the AppendEntries vouches for', () => {
    // n2 holds uncommitted entries 3-4 of term 2 that the leader of term 3 does not have.
    const c = new Cluster(3, {
      seed: 26,
      initial: {
        n1: { hardState: { term: 3, vote: 'n1', commit: 2 }, entries: logOfTerms([1, 1, 3]) },
        n2: { hardState: { term: 3, vote: 'n1', commit: 2 }, entries: logOfTerms([1, 1, 2, 2]) },
        n3: { hardState: { term: 3, vote: 'n1', commit: 2 }, entries: logOfTerms([1, 1, 3]) },
      },
    });
    const n2 = c.core('n2');
    const append = (prevLogIndex: number, prevLogTerm: number, entries: Entry[]) =>
      n2.step({
        type: 'AppendEntries',
        from: 'n1',
        to: 'n2',
        term: 3,
        prevLogIndex,
        prevLogTerm,
        entries,
        leaderCommit: 3,
      });
    append(2, 1, []); // consistent up to 2 only: index 3 (term 2) must not commit
    c.drain();
    expect(n2.log.committed).toBe(2);
    expect(c.node('n2').appliedIndex).toBe(2);
    append(2, 1, logOfTerms([3], 3)); // replaces the conflicting suffix
    c.drain();
    expect(c.termsOf('n2')).toEqual([1, 1, 3]);
    expect(n2.log.committed).toBe(3);
    expect(c.safetyViolations).toEqual([]);
  });

  it('a deposed leader steps down on a higher term and its uncommitted entries are overwritten', () => {
    const c = new Cluster(5, { seed: 27 });
    const old = c.elect();
    const oldTerm = c.core(old).term;
    c.isolate(old);
    c.propose(old, 'lost-1', 'lost-2'); // never reaches a majority
    c.drain();
    const others = c.ids.filter((id) => id !== old);
    expect(
      c.tickUntil(() => others.some((id) => c.core(id).role === Role.Leader), 200, others),
    ).toBeGreaterThan(0);
    const fresh = others.find((id) => c.core(id).role === Role.Leader)!;
    c.drain();
    c.propose(fresh, 'kept');
    c.drain();
    c.heal();
    c.tick(2 * 2, [fresh]); // two heartbeat rounds of the new leader
    expect(c.core(old).role).toBe(Role.Follower);
    expect(c.core(old).term).toBeGreaterThan(oldTerm);
    expect(c.core(old).leader).toBe(fresh);
    expect(c.termsOf(old)).toEqual(c.termsOf(fresh));
    expect(c.appliedTexts(old)).toEqual(['kept']);
    for (const id of c.ids) expect(c.appliedTexts(id)).not.toContain('lost-1');
    expect(c.safetyViolations).toEqual([]);
  });

  it('never commits an entry of an earlier term by counting replicas (5.4.2, figure 8)', () => {
    // Figure 8 (c): S1 led term 2 and wrote index 2 on S1, S2; S5 led term 3 and wrote index 2
    // on itself only; now S1 leads term 4 and copies its term-2 entry to S3 and S4.
    const c = new Cluster(5, {
      seed: 8,
      config: { maxMsgBytes: 1 }, // one entry per AppendEntries
      initial: {
        n1: { hardState: { term: 2, vote: 'n1', commit: 1 }, entries: logOfTerms([1, 2]) },
        n2: { hardState: { term: 2, vote: 'n1', commit: 1 }, entries: logOfTerms([1, 2]) },
        n3: { hardState: { term: 3, vote: 'n5', commit: 1 }, entries: logOfTerms([1]) },
        n4: { hardState: { term: 3, vote: 'n5', commit: 1 }, entries: logOfTerms([1]) },
        n5: { hardState: { term: 3, vote: 'n5', commit: 1 }, entries: logOfTerms([1, 3]) },
      },
    });
    c.crash('n5');
    // Every AppendEntries that would make a follower accept the term-4 no-op is lost.
    c.dropIf = (m) =>
      m.type === 'AppendEntries' &&
      m.entries.some((e) => e.term === 4) &&
      c.core(m.to).log.matchTerm(m.prevLogIndex, m.prevLogTerm);
    expect(c.tickUntil(() => c.leader() === 'n1', 200, ['n1'])).toBeGreaterThan(0);
    c.tick(6, ['n1']);
    const s1 = c.core('n1');
    expect(s1.term).toBe(4);
    // Index 2 (term 2) is now stored on S1, S3, S4 (and S2): a majority, and S1 knows it.
    for (const id of ['n1', 'n3', 'n4']) expect(c.core(id).log.term(2)).toBe(2);
    const known = Object.values(s1.status().progress).filter((p) => p.matchIndex >= 2).length + 1;
    expect(known).toBeGreaterThanOrEqual(3);
    // ... but it is not committed: only an entry of the current term commits by counting.
    expect(s1.log.committed).toBe(1);
    for (const id of ['n1', 'n2', 'n3', 'n4']) expect(c.node(id).appliedIndex).toBe(1);
    // Once the term-4 no-op reaches a majority, it commits, and index 2 with it.
    c.dropIf = () => false;
    c.tick(4, ['n1']);
    expect(s1.log.committed).toBe(3);
    expect(c.core('n3').log.term(2)).toBe(2);
    expect(c.safetyViolations).toEqual([]);
  });
});

describe('Raft core: proposals', () => {
  it('a proposal on a follower throws NotLeaderError naming the leader', () => {
    const c = new Cluster(3, { seed: 23 });
    const leader = c.elect();
    const follower = c.ids.find((id) => id !== leader)!;
    let err: unknown;
    try {
      c.propose(follower, 'x');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NotLeaderError);
    expect((err as NotLeaderError).leaderHint).toBe(leader);
    expect(c.core(follower).log.lastIndex()).toBe(1);
  });

  it('a proposal on a node that knows no leader throws NotLeaderError with an empty hint', () => {
    const c = new Cluster(3, { seed: 23 });
    expect(() => c.propose('n1', 'x')).toThrow(NotLeaderError);
    try {
      c.propose('n1', 'x');
    } catch (e) {
      expect((e as NotLeaderError).leaderHint).toBe('');
    }
  });

  it('proposals beyond maxUncommittedEntries throw ProposalDroppedError', () => {
    const c = new Cluster(3, { seed: 24, config: { maxUncommittedEntries: 5 } });
    const leader = c.elect();
    c.isolate(leader);
    expect(() => c.propose(leader, 'a', 'b', 'c', 'd', 'e', 'f')).toThrow(ProposalDroppedError);
    for (let k = 0; k < 5; k++) c.propose(leader, `p${k}`);
    expect(() => c.propose(leader, 'too many')).toThrow(ProposalDroppedError);
    expect(c.core(leader).log.lastIndex()).toBe(6);
    // Once the backlog commits, proposals are accepted again.
    c.heal();
    c.tick(2);
    expect(c.core(leader).log.committed).toBe(6);
    expect(() => c.propose(leader, 'again')).not.toThrow();
  });
});
