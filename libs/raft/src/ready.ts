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
