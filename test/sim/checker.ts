import type { Entry, HardState, Message, NodeId } from '../../libs/raft/src/index.js';

/** What a checker may read of a node's disk: its durable state only. */
export interface DurableView {
  hardState(): HardState;
  lastIndex(): number;
}

export class SafetyViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetyViolation';
  }
}

const decoder = new TextDecoder();
const key = (e: Entry) => `${e.term}/${e.type}/${decoder.decode(e.data)}`;

/**
 * Checks the Raft safety properties (paper figure 3) as the simulation runs, from what nodes
 * persist, commit, apply and send, plus the client's view: no acknowledged write is lost and
 * every linearizable read sees every write acknowledged before it began. The persistence rules
 * of figure 2 are checked too: they are what the properties rest on, and a violation of them
 * shows at once, long before a crash at the wrong moment turns it into two leaders.
 */
export class SafetyChecker {
  private leaders = new Map<number, NodeId>();
  /** (index, term) -> entry key and the term before it: Log Matching, checked inductively. */
  private logEntries = new Map<string, { key: string; prevTerm: number | undefined }>();
  /** index -> term of the entry committed there, as any node learned it. */
  private committed = new Map<number, number>();
  /** index -> the entry key applied there, by whichever node applied it first. */
  private applied = new Map<number, string>();
  maxCommitted = 0;
  /** Acknowledged client writes: value -> index. */
  readonly acked = new Map<string, number>();
  maxAckedIndex = 0;
  /** node -> its latest durable term and vote. */
  private durableVotes = new Map<NodeId, { term: number; vote: NodeId }>();
  /** `${node}/${term}` -> the vote it made durable in that term. */
  private votesByTerm = new Map<string, NodeId>();
  /** Membership changes appended by leaders. */
  membershipChanges = 0;

  /**
   * report records a violation with the run (checks run inside the code under test, which may
   * catch what they throw: a RaftNode takes an exception in apply() as fatal).
   */
  constructor(private readonly report: (v: SafetyViolation) => void = () => {}) {}

  /** Election Safety: at most one leader per term. */
  onLeader(term: number, id: NodeId): void {
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== id)
      this.fail(`election safety: ${prev} and ${id} both lead term ${term}`);
    this.leaders.set(term, id);
  }

  /**
   * A leader was elected by a majority of the voters of the configuration it campaigned with:
   * durable votes for it in its term from more than half of them (a learner's or a removed
   * node's vote counts for nothing).
   */
  onLeaderVoters(term: number, id: NodeId, voters: readonly NodeId[]): void {
    if (!voters.includes(id)) this.fail(`election: ${id} leads term ${term} but is not a voter`);
    const granted = voters.filter((v) => this.votesByTerm.get(`${v}/${term}`) === id);
    if (granted.length < Math.floor(voters.length / 2) + 1)
      this.fail(
        `election: ${id} leads term ${term} with votes of ${granted.join(',') || 'nobody'}, no majority of voters ${voters.join(',')}`,
      );
  }

  /**
   * A leader appended a configuration change. The single-server rule keeps every two
   * configurations that can be in use at once overlapping in a majority: the configuration it
   * replaces was committed (one change at a time), and the two differ by one voter at most.
   */
  onMembershipChange(
    node: NodeId,
    before: { index: number; voters: readonly NodeId[] },
    after: { index: number; voters: readonly NodeId[] },
    commit: number,
  ): void {
    this.membershipChanges++;
    if (before.index > commit)
      this.fail(
        `membership: ${node} appended a change at ${after.index} while the one at ${before.index} is uncommitted (commit ${commit})`,
      );
    const added = after.voters.filter((v) => !before.voters.includes(v));
    const removed = before.voters.filter((v) => !after.voters.includes(v));
    if (added.length + removed.length > 1)
      this.fail(
        `membership: ${node} changed voters ${before.voters.join(',')} -> ${after.voters.join(',')} in one step`,
      );
  }

  /** Leader Completeness: a new leader's log holds every committed entry. */
  checkLeaderLog(
    id: NodeId,
    term: number,
    logTerm: (i: number) => number | undefined,
    compacted: number,
    last: number,
  ): void {
    if (last < this.maxCommitted) {
      this.fail(
        `leader completeness: ${id} leads term ${term} with last index ${last} < committed ${this.maxCommitted}`,
      );
    }
    for (let i = compacted + 1; i <= this.maxCommitted; i++) {
      const want = this.committed.get(i);
      if (want !== undefined && logTerm(i) !== want) {
        this.fail(
          `leader completeness: ${id} (term ${term}) has term ${logTerm(i)} at ${i}, committed term is ${want}`,
        );
      }
    }
  }

  /** Log Matching: same index and term means same entry and same history before it. */
  onPersistedEntry(node: NodeId, e: Entry, prevTerm: number | undefined): void {
    const k = `${e.index}:${e.term}`;
    const seen = this.logEntries.get(k);
    const mine = { key: key(e), prevTerm };
    if (!seen) {
      this.logEntries.set(k, mine);
      return;
    }
    if (seen.key !== mine.key)
      this.fail(`log matching: ${node} holds a different entry at index ${e.index} term ${e.term}`);
    if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
      this.fail(
        `log matching: ${node} entry ${e.index}/${e.term} follows term ${prevTerm}, elsewhere ${seen.prevTerm}`,
      );
    }
  }

  /** A node's commit index moved: all nodes must agree on what is committed. */
  onCommit(node: NodeId, index: number, term: number): void {
    const want = this.committed.get(index);
    if (want === undefined) this.committed.set(index, term);
    else if (want !== term)
      this.fail(
        `commit disagreement: ${node} committed term ${term} at ${index}, elsewhere ${want}`,
      );
    if (index > this.maxCommitted) this.maxCommitted = index;
  }

  /** State Machine Safety: no two nodes apply different entries at one index. */
  onApply(node: NodeId, e: Entry): void {
    const k = key(e);
    const prev = this.applied.get(e.index);
    if (prev === undefined) this.applied.set(e.index, k);
    else if (prev !== k)
      this.fail(
        `state machine safety: ${node} applied ${k} at ${e.index}, another node applied ${prev}`,
      );
  }

  onAck(value: string, index: number): void {
    if (this.acked.has(value)) this.fail(`write ${value} acknowledged twice`);
    this.acked.set(value, index);
    if (index > this.maxAckedIndex) this.maxAckedIndex = index;
  }

  /**
   * A read began when maxAckedAtStart was the highest acknowledged write, and was answered from
   * the state as of appliedIndex: it must reflect every write acknowledged before it began.
   */
  onRead(node: NodeId, appliedIndex: number, maxAckedAtStart: number): void {
    if (appliedIndex < maxAckedAtStart) {
      this.fail(
        `linearizable read: ${node} served a read at applied index ${appliedIndex} < acknowledged write ${maxAckedAtStart}`,
      );
    }
  }

  /**
   * Figure 2, "persistent state on all servers": a node's durable term never goes back, and its
   * durable vote never changes within a term (forgotten, or given twice).
   */
  onDurableHardState(node: NodeId, hs: HardState): void {
    const prev = this.durableVotes.get(node);
    this.durableVotes.set(node, { term: hs.term, vote: hs.vote });
    if (hs.vote !== '') this.votesByTerm.set(`${node}/${hs.term}`, hs.vote);
    if (!prev) return;
    if (hs.term < prev.term)
      this.fail(`durable term: ${node} went back from term ${prev.term} to ${hs.term}`);
    if (hs.term === prev.term && prev.vote !== '' && hs.vote !== prev.vote)
      this.fail(
        `durable vote: ${node} voted for ${prev.vote} in term ${hs.term}, then '${hs.vote}'`,
      );
  }

  /**
   * Figure 2: persistent state is "updated on stable storage before responding to RPCs". Every
   * message a node sends must follow from what it has made durable by then: its term, the vote
   * it grants or asks for, the entries it acknowledges. A leader's appends may leave before its
   * own write (they claim nothing about its disk).
   */
  onSend(node: NodeId, m: Message, disk: DurableView): void {
    const preVote =
      (m.type === 'RequestVote' || m.type === 'RequestVoteResponse') && m.preVote === true;
    if (preVote) return;
    const hs = disk.hardState();
    const bad = (why: string) =>
      this.fail(`persist before reply: ${node} sent ${m.type}(t${m.term}) to ${m.to}: ${why}`);
    if (m.term > hs.term) bad(`its durable term is ${hs.term}`);
    // A message of a term older than the durable one comes from a Ready that also moved the node
    // to a newer term (which may overwrite the entries it acknowledges): once that term is
    // durable the node never acts in the older one again, so there is nothing more to check.
    if (m.term < hs.term) return;
    switch (m.type) {
      case 'RequestVote':
        if (hs.vote !== node) bad(`its durable vote is '${hs.vote}'`);
        return;
      case 'RequestVoteResponse':
        if (m.voteGranted && hs.vote !== m.to)
          bad(`its durable vote in term ${hs.term} is '${hs.vote}'`);
        return;
      case 'AppendEntriesResponse':
        if (m.success && m.matchIndex > disk.lastIndex())
          bad(`match ${m.matchIndex} is beyond its durable log (${disk.lastIndex()})`);
        return;
      case 'InstallSnapshotResponse':
        if (m.matchIndex > disk.lastIndex())
          bad(`match ${m.matchIndex} is beyond its durable log (${disk.lastIndex()})`);
        return;
      default:
        return;
    }
  }

  private fail(msg: string): never {
    const v = new SafetyViolation(msg);
    this.report(v);
    throw v;
  }
}
