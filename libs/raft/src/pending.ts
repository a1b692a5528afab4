import { LeadershipLostError } from './errors.js';
import { type Entry, EntryType, type NodeId } from './types.js';

export interface ProposalResult<R> {
  readonly index: number;
  readonly result: R;
}

interface PendingProposal<R> {
  term: number;
  /** now() at propose(), for the commit latency. */
  started: number;
  resolve: (r: ProposalResult<R>) => void;
  reject: (e: Error) => void;
}

interface PendingRead {
  index: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * The callers a RaftNode owes an answer: proposals by log index, ReadIndex reads by id and then
 * by the index they wait for. Both are bounded by the core (uncommitted entries, pending reads).
 */
export class PendingRequests<R> {
  private readonly proposals = new Map<number, PendingProposal<R>>();
  private readonly reads = new Map<number, PendingRead>();
  /** Confirmed reads waiting for the state machine to reach their index, in index order. */
  private readonly readsByIndex: PendingRead[] = [];

  /** now: the driver's monotonic clock in ms. */
  constructor(private readonly now: () => number) {}

  proposal(index: number, term: number): Promise<ProposalResult<R>> {
    const started = this.now();
    return new Promise((resolve, reject) =>
      this.proposals.set(index, { term, started, resolve, reject }),
    );
  }

  read(id: number): Promise<void> {
    return new Promise((resolve, reject) => this.reads.set(id, { index: 0, resolve, reject }));
  }

  /**
   * Entry e was applied with result: answers its proposer, if it is waiting here. Returns the
   * seconds from proposal to commit, or -1 if the entry was someone else's (overwritten).
   */
  applied(e: Entry, result: R, leaderHint: NodeId): number | undefined {
    const p = this.proposals.get(e.index);
    if (!p) return undefined;
    this.proposals.delete(e.index);
    if (p.term === e.term && e.type !== EntryType.Noop) {
      p.resolve({ index: e.index, result });
      return (this.now() - p.started) / 1000;
    }
    p.reject(new LeadershipLostError(leaderHint));
    return -1;
  }

  /**
   * What this node proposed after `committed` may still commit under the next leader: the
   * outcome is unknown. Proposals up to `committed` are committed, so they are answered when
   * applied here (a leader that removed itself steps down as its removal commits).
   */
  leadershipLost(leaderHint: NodeId, committed: number): number {
    let n = 0;
    for (const [index, p] of this.proposals) {
      if (index <= committed) continue;
      p.reject(new LeadershipLostError(leaderHint));
      this.proposals.delete(index);
      n++;
    }
    return n;
  }

  readConfirmed(id: number, index: number): void {
    const r = this.reads.get(id);
    if (!r) return;
    this.reads.delete(id);
    r.index = index;
    this.readsByIndex.push(r);
  }

  readDropped(id: number, leaderHint: NodeId): void {
    this.reads.get(id)?.reject(new LeadershipLostError(leaderHint));
    this.reads.delete(id);
  }

  serveReads(appliedIndex: number): void {
    let k = 0;
    for (const r of this.readsByIndex) {
      if (r.index > appliedIndex) break;
      r.resolve();
      k++;
    }
    if (k > 0) this.readsByIndex.splice(0, k);
  }

  /** Fails everything; returns how many proposals were failed. */
  failAll(err: Error): number {
    const n = this.proposals.size;
    for (const p of this.proposals.values()) p.reject(err);
    this.proposals.clear();
    for (const r of this.reads.values()) r.reject(err);
    this.reads.clear();
    for (const r of this.readsByIndex) r.reject(err);
    this.readsByIndex.length = 0;
    return n;
  }
}
