import { seededRandom } from '../../src/prng.js';
import { RaftCore } from '../../src/raft.js';
import { handleReady, type Ready } from '../../src/ready.js';
import {
  type Entry,
  EntryType,
  type HardState,
  type Message,
  type RequestVoteResponse,
  Role,
} from '../../src/types.js';
import { baseConfig, Cluster, logOfTerms } from './harness.js';

function voteRequest(from: string, to: string, term: number, lastLogIndex = 0, lastLogTerm = 0) {
  return {
    type: 'RequestVote',
    from,
    to,
    term,
    lastLogIndex,
    lastLogTerm,
    preVote: false,
    transfer: false,
  } as const;
}

function lone(
  id: string,
  state: { hardState?: HardState; entries?: Entry[] } = {},
  overrides: Partial<typeof baseConfig> = {},
): RaftCore {
  return new RaftCore(
    {
      ...baseConfig,
      ...overrides,
      id,
      voters: ['n1', 'n2', 'n3'],
      random: seededRandom(7),
    },
    {
      hardState: state.hardState ?? { term: 0, vote: '', commit: 0 },
      snapshot: null,
      entries: state.entries ?? [],
    },
  );
}

/** Handles every Ready of a stand-alone core as a driver would; returns the messages sent. */
function flush(core: RaftCore): { messages: Message[]; readies: Ready[] } {
  const messages: Message[] = [];
  const readies: Ready[] = [];
  while (core.hasReady()) {
    const rd = core.ready();
    readies.push(rd);
    // Nothing to keep: a disk that completes every write at once.
    const pending = handleReady(core, rd, core.hardState(), {
      send: (m) => messages.push(m),
      persist: () => {},
      restore: () => {},
      apply: () => {},
      reads: () => {},
    });
    if (pending) throw new Error('a write completed at once leaves nothing pending');
  }
  return { messages, readies };
}

const voteResponses = (msgs: Message[]): RequestVoteResponse[] =>
  msgs.filter((m): m is RequestVoteResponse => m.type === 'RequestVoteResponse');

describe('Raft core: leader election (paper 5.2)', () => {
  it('a single-node cluster elects itself and commits its no-op', () => {
    const c = new Cluster(1, { seed: 11 });
    const ticks = c.tickUntil(() => c.core('n1').role === Role.Leader, 100);
    expect(ticks).toBeGreaterThanOrEqual(baseConfig.electionTicksMin);
    expect(ticks).toBeLessThanOrEqual(baseConfig.electionTicksMax);
    const core = c.core('n1');
    expect(core.term).toBe(1);
    expect(core.vote).toBe('n1');
    expect(core.log.committed).toBe(1);
    expect(c.node('n1').appliedIndex).toBe(1);
    expect(c.persistViolations).toEqual([]);
  });

  it.each([3, 5])('a %i-node cluster elects exactly one leader that everyone follows', (n) => {
    const c = new Cluster(n, { seed: 3 + n });
    const leader = c.elect(200);
    expect(c.leaders()).toEqual([leader]);
    const term = c.core(leader).term;
    for (const id of c.ids) {
      expect(c.core(id).term).toBe(term);
      expect(c.core(id).leader).toBe(leader);
      if (id !== leader) expect(c.core(id).role).toBe(Role.Follower);
    }
    // The leader stays put while the network is healthy.
    c.tick(100);
    expect(c.leaders()).toEqual([leader]);
    expect(c.core(leader).term).toBe(term);
  });

  it('elects at most one leader per term under random partitions and crashes (Election Safety)', () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const c = new Cluster(5, { seed });
      const rnd = seededRandom(seed * 7919);
      for (let step = 0; step < 60; step++) {
        const r = rnd();
        if (r < 0.25) {
          const a = c.ids.filter(() => rnd() < 0.5);
          c.partition(
            a,
            c.ids.filter((id) => !a.includes(id)),
          );
        } else if (r < 0.35) {
          c.heal();
        } else if (r < 0.45) {
          const id = c.pick(rnd());
          if (c.node(id).up) c.crash(id);
          else c.restart(id);
        }
        const l = c.leader();
        if (l && rnd() < 0.5) c.propose(l, `s${seed}-${step}`);
        c.tick(1 + Math.floor(rnd() * 15));
      }
      const twoLeaders = [...c.leadersByTerm].filter(([, leaders]) => leaders.size > 1);
      expect(twoLeaders).toEqual([]);
      expect(c.leadersByTerm.size).toBeGreaterThan(1);
      expect(c.safetyViolations).toEqual([]);
    }
  });

  it('grants at most one vote per term', () => {
    const n2 = lone('n2');
    n2.step(voteRequest('n1', 'n2', 1));
    n2.step(voteRequest('n3', 'n2', 1));
    const granted = voteResponses(flush(n2).messages);
    expect(granted.map((m) => [m.to, m.voteGranted])).toEqual([
      ['n1', true],
      ['n3', false],
    ]);
    expect(n2.vote).toBe('n1');
    // A repeated request from the same candidate (its reply was lost) is granted again.
    n2.step(voteRequest('n1', 'n2', 1));
    expect(voteResponses(flush(n2).messages).map((m) => m.voteGranted)).toEqual([true]);
    // In the next term the node may vote again.
    n2.step(voteRequest('n3', 'n2', 2));
    expect(voteResponses(flush(n2).messages).map((m) => m.voteGranted)).toEqual([true]);
    expect(n2.vote).toBe('n3');
  });

  // Voter log: [1:t1, 2:t1, 3:t2]: last term 2, last index 3.
  it.each([
    ['an older last term, even with a longer log', 9, 1, false],
    ['the same last term but a shorter log', 2, 2, false],
    ['the same last term and length', 3, 2, true],
    ['the same last term and a longer log', 4, 2, true],
    ['a newer last term, even with a shorter log', 1, 3, true],
  ])(
    'a vote is refused to a candidate whose log is less up-to-date (5.4.1): %s',
    (_what, lastIndex, lastTerm, granted) => {
      const n2 = lone('n2', {
        hardState: { term: 2, vote: '', commit: 0 },
        entries: logOfTerms([1, 1, 2]),
      });
      n2.step(voteRequest('n1', 'n2', 5, lastIndex, lastTerm));
      const resp = voteResponses(flush(n2).messages);
      expect(resp.map((m) => m.voteGranted)).toEqual([granted]);
      expect(n2.term).toBe(5);
      expect(n2.vote).toBe(granted ? 'n1' : '');
    },
  );

  it('a candidate rejected by a majority becomes a follower', () => {
    // n1's log is behind: neither n2 nor n3 will vote for it.
    const c = new Cluster(3, {
      seed: 5,
      config: { preVote: false },
      initial: {
        n1: { hardState: { term: 1, vote: '', commit: 1 }, entries: logOfTerms([1]) },
        n2: { hardState: { term: 1, vote: '', commit: 1 }, entries: logOfTerms([1, 1]) },
        n3: { hardState: { term: 1, vote: '', commit: 1 }, entries: logOfTerms([1, 1]) },
      },
    });
    expect(c.tickUntil(() => c.core('n1').term === 2, 100, ['n1'])).toBeGreaterThan(0);
    expect(c.core('n1').role).toBe(Role.Follower);
    expect(c.leaders()).toEqual([]);
    const rejections = c.delivered.filter(
      (m) => m.type === 'RequestVoteResponse' && m.to === 'n1' && !m.voteGranted,
    );
    expect(rejections.map((m) => m.from).sort()).toEqual(['n2', 'n3']);
  });

  it('a pre-candidate rejected by a majority becomes a follower without a new term', () => {
    const c = new Cluster(3, {
      seed: 5,
      initial: {
        n1: { hardState: { term: 1, vote: '', commit: 1 }, entries: logOfTerms([1]) },
        n2: { hardState: { term: 1, vote: '', commit: 1 }, entries: logOfTerms([1, 1]) },
        n3: { hardState: { term: 1, vote: '', commit: 1 }, entries: logOfTerms([1, 1]) },
      },
    });
    const asked = () => c.delivered.some((m) => m.type === 'RequestVote' && m.from === 'n1');
    expect(c.tickUntil(asked, 100, ['n1'])).toBeGreaterThan(0);
    expect(c.core('n1').role).toBe(Role.Follower);
    const rejections = c.delivered.filter(
      (m) => m.type === 'RequestVoteResponse' && m.to === 'n1' && m.preVote && !m.voteGranted,
    );
    expect(rejections.map((m) => m.from).sort()).toEqual(['n2', 'n3']);
    for (const id of c.ids) expect(c.core(id).term).toBe(1);
  });

  it('a new leader appends a no-op entry of its own term', () => {
    const c = new Cluster(3, {
      seed: 9,
      initial: Object.fromEntries(
        ['n1', 'n2', 'n3'].map((id) => [
          id,
          { hardState: { term: 2, vote: '', commit: 3 }, entries: logOfTerms([1, 2, 2]) },
        ]),
      ),
    });
    const leader = c.elect();
    const core = c.core(leader);
    expect(core.term).toBe(3);
    expect(core.log.lastIndex()).toBe(4);
    const noop = core.log.entry(4);
    expect(noop.type).toBe(EntryType.Noop);
    expect(noop.term).toBe(3);
    expect(noop.data.byteLength).toBe(0);
    for (const id of c.ids) expect(c.core(id).log.committed).toBe(4);
  });
});
