import type { ReadState } from './ready.js';

/**
 * The leader's ReadIndex rounds (Raft thesis 6.4). Every read gets the next sequence number;
 * heartbeats carry the latest, and a read is confirmed once a quorum has acknowledged a
 * heartbeat sent after it arrived. Until the leader has committed an entry of its own term it
 * does not know the commit index, so reads wait for that first.
 */
export class ReadIndex {
  private seq = 0;
  private awaitingCommit: number[] = [];
  /** Started rounds, in id order, each with the commit index it will be served at. */
  private started: ReadState[] = [];
  private confirmed: ReadState[] = [];
  private dropped: number[] = [];

  constructor(private readonly max: number) {}

  /** The newest round: what heartbeats carry as ctx. */
  get latest(): number {
    return this.seq;
  }

  isFull(): boolean {
    return this.awaitingCommit.length + this.started.length >= this.max;
  }

  /** A new read; returns its id and whether it started (else it waits for a commit). */
  request(commitIsKnown: boolean, commit: number): { id: number; started: boolean } {
    const id = ++this.seq;
    if (commitIsKnown) this.started.push({ id, index: commit });
    else this.awaitingCommit.push(id);
    return { id, started: commitIsKnown };
  }

  /** The leader committed an entry of its term: start the reads that waited. */
  commitKnown(commit: number): boolean {
    if (this.awaitingCommit.length === 0) return false;
    for (const id of this.awaitingCommit) this.started.push({ id, index: commit });
    this.awaitingCommit = [];
    return true;
  }

  /** A quorum acknowledged heartbeats up to round quorumAck. */
  confirm(quorumAck: number): void {
    let k = 0;
    for (const r of this.started) {
      if (r.id > quorumAck) break;
      this.confirmed.push(r);
      k++;
    }
    if (k > 0) this.started.splice(0, k);
  }

  /** Leadership is gone: every pending read fails. */
  dropAll(): void {
    for (const id of this.awaitingCommit) this.dropped.push(id);
    for (const r of this.started) this.dropped.push(r.id);
    this.awaitingCommit = [];
    this.started = [];
  }

  hasOutput(): boolean {
    return this.confirmed.length > 0 || this.dropped.length > 0;
  }

  /** Confirmed and dropped reads for the next Ready. */
  take(): { readStates: ReadState[]; droppedReads: number[] } {
    const out = { readStates: this.confirmed, droppedReads: this.dropped };
    this.confirmed = [];
    this.dropped = [];
    return out;
  }
}
