// Shared vocabulary of the Raft engine: the words of Figure 2 of the Raft paper.
// Terms and indexes are JS numbers: exact up to 2^53, far beyond any log this service writes.
import type { Membership } from './membership.js';

export type NodeId = string;

export enum EntryType {
  /** An application command. */
  Normal = 0,
  /** The empty entry a new leader appends to commit entries of earlier terms (paper 5.4.2). */
  Noop = 1,
  /** A new cluster membership (its data: encodeMembers), in force from the moment it is in the log. */
  Config = 2,
}

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must survive a crash besides the log (Figure 2, "persistent state on all servers"). */
export interface HardState {
  readonly term: number;
  /** Candidate voted for in `term`, or '' for none. */
  readonly vote: NodeId;
  readonly commit: number;
}

export interface SnapshotMeta {
  /** Last log index the snapshot covers. */
  readonly index: number;
  /** Term of the entry at `index`. */
  readonly term: number;
  /**
   * The membership in force at `index`. Absent only in snapshots stored before membership
   * changes existed: the bootstrap membership applies to them.
   */
  readonly membership?: Membership;
}

/**
 * The bytes of a stored or received snapshot: a handle read as a stream of chunks, never one
 * buffer, so that a snapshot of any size costs a few chunks of memory to send, receive or restore.
 */
export interface SnapshotData {
  /** Total length in bytes. */
  readonly bytes: number;
  /**
   * The bytes in order, in chunks of modest size (about 1 MiB at most). Each call reads from the
   * start. A read that has started sees the data to its end even if a newer snapshot replaces
   * this one meanwhile; one that starts after that fails. Data that does not match what was
   * written fails the read with StorageCorruptionError, at the latest at its end.
   */
  chunks(): AsyncIterable<Uint8Array>;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: SnapshotData;
}

export enum Role {
  Follower = 'follower',
  PreCandidate = 'pre-candidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

export interface AppendEntries extends Envelope {
  readonly type: 'AppendEntries';
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly leaderCommit: number;
}

export interface AppendEntriesResponse extends Envelope {
  readonly type: 'AppendEntriesResponse';
  readonly success: boolean;
  /** On success: the last index now known to match the leader. */
  readonly matchIndex: number;
  /** On reject: the prevLogIndex that failed, so stale rejections can be told apart. */
  readonly rejectedIndex: number;
  /** On reject: term of the follower's entry at rejectedIndex (0 if its log is shorter). */
  readonly conflictTerm: number;
  /** On reject: first index of conflictTerm in the follower's log, or its lastIndex+1. */
  readonly conflictIndex: number;
}

/** Leader liveness and commit propagation without a log check; `ctx` confirms ReadIndex rounds. */
export interface Heartbeat extends Envelope {
  readonly type: 'Heartbeat';
  readonly leaderCommit: number;
  readonly ctx: number;
}

export interface HeartbeatResponse extends Envelope {
  readonly type: 'HeartbeatResponse';
  readonly ctx: number;
}

export interface RequestVote extends Envelope {
  readonly type: 'RequestVote';
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /** A PreVote asks "would you vote for me at `term`?" without anyone changing state. */
  readonly preVote: boolean;
  /** Sent after TimeoutNow: voters must not refuse because they heard from a leader recently. */
  readonly transfer: boolean;
}

export interface RequestVoteResponse extends Envelope {
  readonly type: 'RequestVoteResponse';
  readonly voteGranted: boolean;
  readonly preVote: boolean;
}

export interface InstallSnapshot extends Envelope {
  readonly type: 'InstallSnapshot';
  readonly snapshot: SnapshotMeta;
  /**
   * Absent when the core emits the message (the transport streams the stored snapshot); present
   * when the receiving transport steps it into the core: the data it staged in its node's
   * storage (Storage.receiveSnapshot) as the chunks arrived.
   */
  readonly data?: SnapshotData;
}

export interface InstallSnapshotResponse extends Envelope {
  readonly type: 'InstallSnapshotResponse';
  /** The follower's commit index after handling the snapshot. */
  readonly matchIndex: number;
}

export interface TimeoutNow extends Envelope {
  readonly type: 'TimeoutNow';
}

export type Message =
  | AppendEntries
  | AppendEntriesResponse
  | Heartbeat
  | HeartbeatResponse
  | RequestVote
  | RequestVoteResponse
  | InstallSnapshot
  | InstallSnapshotResponse
  | TimeoutNow;

export type MessageType = Message['type'];
