import type { Entry, NodeId } from '../../libs/raft/src/index.js';

export class SafetyViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetyViolation';
  }
}

function fail(msg: string): never {
  throw new SafetyViolation(msg);
}

const decoder = new TextDecoder();
const key = (e: Entry) => `${e.term}/${e.type}/${decoder.decode(e.data)}`;

/**
 * Checks the Raft safety properties (paper figure 3) as the simulation runs, from what nodes
 * persist, commit and apply, plus the client's view: no acknowledged write is lost and every
 * linearizable read sees every write acknowledged before it began.
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

  /** Election Safety: at most one leader per term. */
  onLeader(term: number, id: NodeId): void {
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== id)
      fail(`election safety: ${prev} and ${id} both lead term ${term}`);
    this.leaders.set(term, id);
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
      fail(
        `leader completeness: ${id} leads term ${term} with last index ${last} < committed ${this.maxCommitted}`,
      );
    }
    for (let i = compacted + 1; i <= this.maxCommitted; i++) {
      const want = this.committed.get(i);
      if (want !== undefined && logTerm(i) !== want) {
        fail(
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
      fail(`log matching: ${node} holds a different entry at index ${e.index} term ${e.term}`);
    if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
      fail(
        `log matching: ${node} entry ${e.index}/${e.term} follows term ${prevTerm}, elsewhere ${seen.prevTerm}`,
      );
    }
  }

  /** A node's commit index moved: all nodes must agree on what is committed. */
  onCommit(node: NodeId, index: number, term: number): void {
    const want = this.committed.get(index);
    if (want === undefined) this.committed.set(index, term);
    else if (want !== term)
      fail(`commit disagreement: ${node} committed term ${term} at ${index}, elsewhere ${want}`);
    if (index > this.maxCommitted) this.maxCommitted = index;
  }

  /** State Machine Safety: no two nodes apply different entries at one index. */
  onApply(node: NodeId, e: Entry): void {
    const k = key(e);
    const prev = this.applied.get(e.index);
    if (prev === undefined) this.applied.set(e.index, k);
    else if (prev !== k)
      fail(
        `state machine safety: ${node} applied ${k} at ${e.index}, another node applied ${prev}`,
      );
  }

  onAck(value: string, index: number): void {
    if (this.acked.has(value)) fail(`write ${value} acknowledged twice`);
    this.acked.set(value, index);
    if (index > this.maxAckedIndex) this.maxAckedIndex = index;
  }

  /** A read began when maxAckedAtStart was acknowledged, and was served at readIndex. */
  onRead(node: NodeId, readIndex: number, maxAckedAtStart: number): void {
    if (readIndex < maxAckedAtStart) {
      fail(
        `linearizable read: ${node} served read at index ${readIndex} < acknowledged write ${maxAckedAtStart}`,
      );
    }
  }
}
