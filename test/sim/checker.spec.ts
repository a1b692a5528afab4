import { EntryType, type HardState, type Message } from '../../libs/raft/src/index.js';
import { SafetyChecker, SafetyViolation } from './checker.js';

const disk = (hs: HardState, last: number) => ({ hardState: () => hs, lastIndex: () => last });

const grant = (term: number, to: string, preVote = false): Message => ({
  type: 'RequestVoteResponse',
  from: 'n1',
  to,
  term,
  voteGranted: true,
  preVote,
});

const ack = (term: number, matchIndex: number): Message => ({
  type: 'AppendEntriesResponse',
  from: 'n1',
  to: 'n2',
  term,
  success: true,
  matchIndex,
  rejectedIndex: 0,
  conflictTerm: 0,
  conflictIndex: 0,
});

describe('SafetyChecker', () => {
  test('reports each violation to the run, then throws it', () => {
    const reported: SafetyViolation[] = [];
    const c = new SafetyChecker((v) => reported.push(v));
    c.onLeader(3, 'n1');
    expect(() => c.onLeader(3, 'n2')).toThrow(SafetyViolation);
    expect(reported.map((v) => v.message)).toEqual(['election safety: n1 and n2 both lead term 3']);
  });

  test('a reply must follow from durable state (figure 2)', () => {
    const c = new SafetyChecker();
    // A vote granted before it was durable.
    expect(() => c.onSend('n1', grant(2, 'n3'), disk({ term: 1, vote: '', commit: 0 }, 0))).toThrow(
      /durable term is 1/,
    );
    expect(() =>
      c.onSend('n1', grant(2, 'n3'), disk({ term: 2, vote: 'n2', commit: 0 }, 0)),
    ).toThrow(/durable vote in term 2 is 'n2'/);
    c.onSend('n1', grant(2, 'n3'), disk({ term: 2, vote: 'n3', commit: 0 }, 0));
    // Entries acknowledged before they were durable.
    expect(() => c.onSend('n1', ack(2, 5), disk({ term: 2, vote: 'n3', commit: 0 }, 4))).toThrow(
      /match 5 is beyond its durable log \(4\)/,
    );
    c.onSend('n1', ack(2, 4), disk({ term: 2, vote: 'n3', commit: 0 }, 4));
    // Superseded by a durable newer term, and pre-votes, promise nothing.
    c.onSend('n1', ack(1, 9), disk({ term: 2, vote: '', commit: 0 }, 4));
    c.onSend('n1', grant(3, 'n2', true), disk({ term: 2, vote: '', commit: 0 }, 4));
  });

  test("a node's durable vote never changes within a term, nor its term go back", () => {
    const c = new SafetyChecker();
    c.onDurableHardState('n1', { term: 2, vote: '', commit: 0 });
    c.onDurableHardState('n1', { term: 2, vote: 'n2', commit: 0 });
    c.onDurableHardState('n1', { term: 2, vote: 'n2', commit: 3 });
    expect(() => c.onDurableHardState('n1', { term: 2, vote: '', commit: 3 })).toThrow(
      /voted for n2 in term 2, then ''/,
    );
    const d = new SafetyChecker();
    d.onDurableHardState('n1', { term: 3, vote: 'n1', commit: 0 });
    expect(() => d.onDurableHardState('n1', { term: 2, vote: '', commit: 0 })).toThrow(
      /went back from term 3 to 2/,
    );
    d.onDurableHardState('n2', { term: 3, vote: 'n3', commit: 0 });
    d.onDurableHardState('n2', { term: 4, vote: 'n1', commit: 0 });
  });

  test('log matching, state machine safety, lost reads and double acks are caught', () => {
    const c = new SafetyChecker();
    const e = (index: number, term: number, text: string) => ({
      index,
      term,
      type: EntryType.Normal,
      data: new TextEncoder().encode(text),
    });
    c.onPersistedEntry('n1', e(5, 2, 'a'), 2);
    expect(() => c.onPersistedEntry('n2', e(5, 2, 'b'), 2)).toThrow(/log matching/);
    expect(() => c.onPersistedEntry('n2', e(5, 2, 'a'), 1)).toThrow(/follows term 1/);
    c.onApply('n1', e(6, 2, 'x'));
    expect(() => c.onApply('n2', e(6, 3, 'y'))).toThrow(/state machine safety/);
    c.onAck('v1', 7);
    expect(() => c.onAck('v1', 8)).toThrow(/acknowledged twice/);
    expect(() => c.onRead('n3', 6, 7)).toThrow(/linearizable read/);
    c.onRead('n3', 7, 7);
  });

  test('a leader needs durable votes from a majority of its voters; learners do not count', () => {
    const c = new SafetyChecker();
    c.onDurableHardState('n1', { term: 2, vote: 'n1', commit: 0 });
    c.onDurableHardState('s1', { term: 2, vote: 'n1', commit: 0 });
    expect(() => c.onLeaderVoters(2, 'n1', ['n1', 'n2', 'n3'])).toThrow(/no majority/);
    c.onDurableHardState('n2', { term: 2, vote: 'n1', commit: 0 });
    expect(() => c.onLeaderVoters(2, 'n1', ['n1', 'n2', 'n3'])).not.toThrow();
    expect(() => c.onLeaderVoters(2, 's1', ['n1', 'n2', 'n3'])).toThrow(/not a voter/);
  });

  test('a membership change replaces a committed configuration and moves one voter', () => {
    const c = new SafetyChecker();
    const v3 = { index: 5, voters: ['n1', 'n2', 'n3'] };
    expect(() =>
      c.onMembershipChange('n1', v3, { index: 9, voters: ['n1', 'n2', 'n3', 'n4'] }, 5),
    ).not.toThrow();
    expect(() =>
      c.onMembershipChange('n1', v3, { index: 9, voters: ['n1', 'n2', 'n3', 'n4'] }, 4),
    ).toThrow(/uncommitted/);
    expect(() =>
      c.onMembershipChange('n1', v3, { index: 9, voters: ['n1', 'n4', 'n5'] }, 5),
    ).toThrow(/in one step/);
  });
});
