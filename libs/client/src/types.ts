// The SDK's public shapes (camelCase, bigint for uint64), and conversions from the wire's
// (the generated messages of ./gen).
import type * as grpc from '@grpc/grpc-js';
import type { MembersResponse, Member, StatusResponse } from './gen/quorumlock/v1/cluster.js';
import type { LeaderResponse } from './gen/quorumlock/v1/election.js';
import {
  type DescribeResponse,
  type LockEvent as WireLockEvent,
  LockEvent_Type,
  LockMode as WireLockMode,
} from './gen/quorumlock/v1/lock.js';
import type { RetryOptions, TlsOptions } from './connection.js';

export interface QuorumLockClientOptions {
  /** host:port of every node (any subset works: followers forward to the leader). */
  readonly endpoints: readonly string[];
  readonly tls?: boolean | TlsOptions | grpc.ChannelCredentials;
  readonly retry?: RetryOptions;
  /**
   * Bearer token for a server run with --auth-config, sent as `authorization: Bearer <token>`
   * on every call and stream.
   */
  readonly token?: string;
  /** Owner/candidate name when a call names none; default `<hostname>:<pid>`. */
  readonly owner?: string;
  /** Budget of a call, retries included, on top of any wait it asks for (default 10000). */
  readonly callTimeoutMs?: number;
  /** One attempt's budget before the next endpoint is tried (default 3000, plus any wait). */
  readonly attemptTimeoutMs?: number;
}

export interface LeaseOptions {
  /** Lease TTL; the server raises it to its minimum (about 1 s) and defaults it to 15 s. */
  readonly ttlMs?: number;
  /** How long to queue for the lock/election (acquire/campaign: default 30 s, max 600 s). */
  readonly waitMs?: number;
  /** Reusing the id of a call whose outcome is unknown returns the same grant. Default: new. */
  readonly requestId?: string;
}

/**
 * How a lock is held: 'exclusive' holders exclude everyone else (up to the name's limit of them
 * for a semaphore); 'shared' holders exclude only exclusive ones.
 */
export type LockMode = 'exclusive' | 'shared';

/** What kind of lock to take (acquire, tryAcquire, withLock). */
export interface LockKindOptions {
  /** Default 'exclusive'. */
  readonly mode?: LockMode;
  /**
   * Exclusive holders allowed at once: 0 or 1 (default) is a mutex, above 1 a semaphore (at
   * most 10,000). The name's first holder fixes it while anyone holds or waits for the name;
   * another limit is refused (FailedPreconditionError). Not with mode 'shared'.
   */
  readonly limit?: number;
  /**
   * When this grant ends because its lease expired (not by a release), nobody is granted the
   * name for this long (ms, at most 60,000): a pause for storage that cannot check fencing
   * tokens.
   */
  readonly lockDelayMs?: number;
}

export interface LockEvent {
  readonly name: string;
  readonly type: 'ACQUIRED' | 'RELEASED' | 'EXPIRED';
  readonly owner: string;
  readonly fencingToken: bigint;
  readonly mode: LockMode;
}

export interface LockHolder {
  readonly owner: string;
  readonly fencingToken: bigint;
  /** The leader's view of the holder's remaining lease time. */
  readonly remainingMs: number;
  readonly mode: LockMode;
}

/** A lock's state. held, owner, fencingToken, remainingMs and mode describe the oldest holder. */
export interface LockDescription {
  readonly name: string;
  readonly held: boolean;
  readonly owner: string;
  readonly fencingToken: bigint;
  /**
   * The leader's view of the holder's remaining lease time; when nothing holds a name in its
   * lock-delay, the delay left.
   */
  readonly remainingMs: number;
  readonly waiters: number;
  readonly mode: LockMode;
  /** The name's limit (1: a mutex); 0 when nothing holds or waits for it. */
  readonly limit: number;
  /** Every holder, in grant order. */
  readonly holders: readonly LockHolder[];
}

export interface LeaderInfo {
  readonly election: string;
  /** false: nobody leads; the other fields are then empty/0. */
  readonly hasLeader: boolean;
  readonly candidate: string;
  readonly value: string;
  readonly fencingToken: bigint;
}

export interface MemberStatus {
  readonly id: string;
  readonly peerAddress: string;
  readonly clientAddress: string;
  readonly matchIndex: bigint;
  readonly isLeader: boolean;
  /** A non-voting member: it receives the log but does not vote or count toward a quorum. */
  readonly learner: boolean;
}

/** A member to add (ClusterService.AddMember). */
export interface NewMember {
  readonly id: string;
  /** host:port the other members reach its Raft transport at. */
  readonly peerAddress: string;
  /** host:port it serves clients at. */
  readonly clientAddress: string;
  /** Add it as a learner (promote it once caught up); default false: a voter at once. */
  readonly learner?: boolean;
}

export interface NodeStatus {
  readonly id: string;
  readonly role: string;
  readonly term: bigint;
  readonly leaderId: string;
  readonly leaderClientAddress: string;
  readonly commitIndex: bigint;
  readonly appliedIndex: bigint;
  readonly members: readonly MemberStatus[];
}

/** The members as the leader knows them (linearizable). */
export interface ClusterMembers {
  readonly members: readonly MemberStatus[];
  readonly leaderId: string;
  /** Log index of the membership in force; 0: the static membership given at start-up. */
  readonly configIndex: bigint;
}

export const toLeaderInfo = (election: string, w: LeaderResponse): LeaderInfo => ({
  election,
  hasLeader: w.has_leader,
  candidate: w.candidate,
  value: w.value,
  fencingToken: w.fencing_token,
});

const toMember = (m: Member): MemberStatus => ({
  id: m.id,
  peerAddress: m.peer_address,
  clientAddress: m.client_address,
  matchIndex: m.match_index,
  isLeader: m.is_leader,
  learner: m.learner,
});

export const toNodeStatus = (w: StatusResponse): NodeStatus => ({
  id: w.id,
  role: w.role,
  term: w.term,
  leaderId: w.leader_id,
  leaderClientAddress: w.leader_client_address,
  commitIndex: w.commit_index,
  appliedIndex: w.applied_index,
  members: w.members.map(toMember),
});

export const toClusterMembers = (w: MembersResponse): ClusterMembers => ({
  members: w.members.map(toMember),
  leaderId: w.leader_id,
  configIndex: w.config_index,
});

const EVENT_TYPES: Record<LockEvent_Type, LockEvent['type']> = {
  [LockEvent_Type.ACQUIRED]: 'ACQUIRED',
  [LockEvent_Type.RELEASED]: 'RELEASED',
  [LockEvent_Type.EXPIRED]: 'EXPIRED',
};

export const toLockMode = (m: WireLockMode): LockMode =>
  m === WireLockMode.LOCK_MODE_SHARED ? 'shared' : 'exclusive';

export const toWireLockMode = (m: LockMode): WireLockMode =>
  m === 'shared' ? WireLockMode.LOCK_MODE_SHARED : WireLockMode.LOCK_MODE_EXCLUSIVE;

export const toLockEvent = (w: WireLockEvent): LockEvent => ({
  name: w.name,
  // A type added to the proto after this SDK was built reads as its number.
  type: EVENT_TYPES[w.type] ?? (w.type as unknown as LockEvent['type']),
  owner: w.owner,
  fencingToken: w.fencing_token,
  mode: toLockMode(w.mode),
});

export const toLockDescription = (name: string, r: DescribeResponse): LockDescription => ({
  name,
  held: r.held,
  owner: r.owner,
  fencingToken: r.fencing_token,
  remainingMs: r.remaining_ms,
  waiters: r.waiters,
  mode: toLockMode(r.mode),
  limit: r.limit,
  holders: r.holders.map((h) => ({
    owner: h.owner,
    fencingToken: h.fencing_token,
    remainingMs: h.remaining_ms,
    mode: toLockMode(h.mode),
  })),
});
