/**
 * The leader's view of one follower (Figure 2's nextIndex/matchIndex), plus the flow control
 * of etcd-io/raft: probe one message at a time until the follower's log matches, then
 * replicate with a bounded window of pipelined AppendEntries, or wait for a snapshot.
 */
export enum ProgressState {
  Probe = 'probe',
  Replicate = 'replicate',
  Snapshot = 'snapshot',
}

export class Progress {
  matchIndex = 0;
  nextIndex: number;
  state = ProgressState.Probe;
  /** Probe state: an AppendEntries is out and unanswered; wait for a reply or heartbeat. */
  probeSent = false;
  /** Replicate state: last index carried by each AppendEntries in flight, oldest first. */
  private inflights: number[] = [];
  pendingSnapshot = 0;
  snapshotSentTick = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = true;
  /** Leader tick at which this follower was last heard from (never, in this term, at first). */
  lastHeardTick = -Infinity;
  /** Highest commit index sent, so that idle followers are told of commits only once. */
  sentCommit = 0;
  /** Highest ReadIndex round this follower confirmed. */
  readAck = 0;

  constructor(
    nextIndex: number,
    private readonly maxInflight: number,
  ) {
    this.nextIndex = nextIndex;
  }

  heardFrom(tick: number): void {
    this.recentActive = true;
    this.lastHeardTick = tick;
  }

  becomeProbe(): void {
    // After a snapshot the follower holds at least the snapshot: probe just past it.
    const from =
      this.state === ProgressState.Snapshot
        ? Math.max(this.matchIndex, this.pendingSnapshot)
        : this.matchIndex;
    this.state = ProgressState.Probe;
    this.nextIndex = from + 1;
    this.resetFlow();
  }

  becomeReplicate(): void {
    this.state = ProgressState.Replicate;
    this.nextIndex = this.matchIndex + 1;
    this.resetFlow();
  }

  becomeSnapshot(index: number, tick: number): void {
    this.state = ProgressState.Snapshot;
    this.pendingSnapshot = index;
    this.snapshotSentTick = tick;
    this.probeSent = false;
    this.inflights = [];
  }

  private resetFlow(): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights = [];
  }

  /** An acknowledgement up to n. Returns whether matchIndex moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.matchIndex < n) {
      this.matchIndex = n;
      updated = true;
      this.probeSent = false;
    }
    if (this.nextIndex < n + 1) this.nextIndex = n + 1;
    const k = this.inflights.findIndex((i) => i > n);
    this.inflights.splice(0, k < 0 ? this.inflights.length : k);
    return updated;
  }

  /**
   * A rejection of the AppendEntries whose prevLogIndex was `rejected`, with the leader's
   * estimate `hint` of where the logs diverge. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.matchIndex) return false;
      this.nextIndex = Math.max(this.matchIndex + 1, Math.min(rejected, hint));
      return true;
    }
    if (this.nextIndex - 1 !== rejected) return false;
    this.nextIndex = Math.max(this.matchIndex + 1, Math.min(rejected, hint), 1);
    this.probeSent = false;
    return true;
  }

  /** Records that an AppendEntries carrying entries up to last was sent. */
  sentEntries(last: number): void {
    if (this.state === ProgressState.Replicate) {
      this.nextIndex = last + 1;
      this.inflights.push(last);
    } else if (this.state === ProgressState.Probe) {
      this.probeSent = true;
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.length >= this.maxInflight;
      case ProgressState.Snapshot:
        return true;
    }
  }

  inflightCount(): number {
    return this.inflights.length;
  }
}
