// The service as the gRPC layer sees it. The messages are the ones generated from the protos
// (scripts/gen-proto.sh): snake_case fields as on the wire, uint64 as number, so controllers
// pass them straight through.
import type {
  AddMemberRequest,
  ListMembersRequest,
  Member,
  MembersResponse,
  PromoteMemberRequest,
  RemoveMemberRequest,
  SnapshotChunk,
  SnapshotRequest,
  StatusRequest,
  StatusResponse,
  TransferLeadershipRequest,
  TransferLeadershipResponse,
} from '../gen/quorumlock/v1/cluster.js';
import type {
  CampaignRequest,
  CampaignResponse,
  LeaderRequest,
  LeaderResponse,
  ProclaimRequest,
  ProclaimResponse,
  ResignRequest,
  ResignResponse,
} from '../gen/quorumlock/v1/election.js';
import type {
  AcquireRequest,
  AcquireResponse,
  DescribeRequest,
  DescribeResponse,
  LockEvent,
  ReleaseRequest,
  ReleaseResponse,
  RenewRequest,
  RenewResponse,
  WatchRequest,
} from '../gen/quorumlock/v1/lock.js';

export { LockEvent_Type as LockEventType, LockMode } from '../gen/quorumlock/v1/lock.js';
export type {
  AddMemberRequest,
  PromoteMemberRequest,
  RemoveMemberRequest,
  AcquireRequest,
  AcquireResponse,
  CampaignRequest,
  CampaignResponse,
  DescribeRequest,
  DescribeResponse,
  LeaderRequest,
  LeaderResponse,
  ListMembersRequest,
  LockEvent,
  Member,
  MembersResponse,
  ProclaimRequest,
  ProclaimResponse,
  ReleaseRequest,
  ReleaseResponse,
  RenewRequest,
  RenewResponse,
  ResignRequest,
  ResignResponse,
  SnapshotChunk,
  SnapshotRequest,
  StatusRequest,
  StatusResponse,
  TransferLeadershipRequest,
  TransferLeadershipResponse,
  WatchRequest,
};

/** Per call: the client's deadline on this node's monotonic clock, and cancellation. */
export interface CallContext {
  readonly deadline?: number;
  readonly signal?: AbortSignal;
  /** Set when another node forwarded the call: it must not be forwarded again. */
  readonly forwarded?: boolean;
  /** The member that forwarded the call, and the client address it serves on. */
  readonly forwardedBy?: { readonly id: string; readonly clientAddress: string };
  readonly principal?: string;
}

/**
 * What the gRPC layer calls. Implementations throw DomainError (with its gRPC code) for every
 * failure; streams end by throwing DomainError(UNAVAILABLE) when this node loses the leader.
 */
export interface LockApi {
  acquire(req: AcquireRequest, ctx: CallContext): Promise<AcquireResponse>;
  renew(req: RenewRequest, ctx: CallContext): Promise<RenewResponse>;
  release(req: ReleaseRequest, ctx: CallContext): Promise<ReleaseResponse>;
  describe(req: DescribeRequest, ctx: CallContext): Promise<DescribeResponse>;
  watch(req: WatchRequest, ctx: CallContext): AsyncIterable<LockEvent>;
  campaign(req: CampaignRequest, ctx: CallContext): Promise<CampaignResponse>;
  proclaim(req: ProclaimRequest, ctx: CallContext): Promise<ProclaimResponse>;
  resign(req: ResignRequest, ctx: CallContext): Promise<ResignResponse>;
  leader(req: LeaderRequest, ctx: CallContext): Promise<LeaderResponse>;
  observe(req: LeaderRequest, ctx: CallContext): AsyncIterable<LeaderResponse>;
  /**
   * Takes one of this node's stream slots for a KeepAlive stream, which counts against the same
   * limit as Watch and Observe: throws DomainError(RESOURCE_EXHAUSTED) when none is free, else
   * returns the function that gives the slot back when the stream ends.
   */
  openKeepAlive(ctx: CallContext): () => void;
  /** This node's own view, answered locally (not linearizable). */
  status(req: StatusRequest, ctx: CallContext): Promise<StatusResponse>;
  /** The members as the leader knows them after a read barrier (linearizable). */
  listMembers(req: ListMembersRequest, ctx: CallContext): Promise<MembersResponse>;
  /** Membership changes: each returns once committed (see ClusterService in cluster.proto). */
  addMember(req: AddMemberRequest, ctx: CallContext): Promise<MembersResponse>;
  promoteMember(req: PromoteMemberRequest, ctx: CallContext): Promise<MembersResponse>;
  removeMember(req: RemoveMemberRequest, ctx: CallContext): Promise<MembersResponse>;
  transferLeadership(
    req: TransferLeadershipRequest,
    ctx: CallContext,
  ): Promise<TransferLeadershipResponse>;
  /**
   * A backup: the bytes of a snapshot file of the state, taken on the leader after a read
   * barrier (FAILED_PRECONDITION on a follower, naming the leader).
   */
  snapshot(req: SnapshotRequest, ctx: CallContext): AsyncIterable<SnapshotChunk>;
  /** True while this node knows a leader and has applied up to its commit index. */
  isServing(): boolean;
}
