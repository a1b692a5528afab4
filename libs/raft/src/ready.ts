import type { Entry, HardState, Message, NodeId, Role, Snapshot } from './types.js';

export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId;
  readonly term: number;
}

/** A ReadIndex round confirmed by a quorum: serve read `id` once applied >= index. */
export interface ReadState {
  readonly id: number;
  readonly index: number;
}

/**
 * One batch of work the core hands its driver. The driver must, in this order: persist
 * hardState, snapshot and entries in one synced write; then send messages; then restore the
 * snapshot and apply committedEntries; then call advance(ready).
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly snapshot?: Snapshot;
  readonly entries: Entry[];
  readonly messages: Message[];
  readonly committedEntries: Entry[];
  readonly readStates: ReadState[];
  /** ReadIndex requests the core gave up on (leadership lost): fail them. */
  readonly droppedReads: number[];
}

/**
 * Whether rd must be fsynced: a new term, vote, entries or snapshot. A commit index alone need
 * not be: losing it only makes a restarted node learn it again.
 */
export function mustSync(rd: Ready, prev: { term: number; vote: string }): boolean {
  const hs = rd.hardState;
  return (
    rd.entries.length > 0 ||
    rd.snapshot !== undefined ||
    (hs !== undefined && (hs.term !== prev.term || hs.vote !== prev.vote))
  );
}

/**
 * Messages a leader may send before its own write completes (Raft thesis 10.2.1): its
 * AppendEntries go out while it fsyncs, since it counts its own entries only once durable and
 * its term was made durable when it campaigned. Answers and votes always wait for the write.
 */
export function sendsBeforePersist(m: Message): boolean {
  return (
    m.type === 'AppendEntries' ||
    m.type === 'Heartbeat' ||
    m.type === 'InstallSnapshot' ||
    m.type === 'TimeoutNow'
  );
}
