// The service as the gRPC layer sees it. Field names are the proto's (snake_case, as
// @grpc/proto-loader delivers them with keepCase), so controllers pass messages straight through.

export interface AcquireRequest {
  name: string;
  owner: string;
  ttl_ms: number;
  wait_ms: number;
  request_id: string;
  lease_id: string;
}
export interface AcquireResponse {
  acquired: boolean;
  lease_id: string;
  fencing_token: number;
  ttl_ms: number;
  holder: string;
}
export interface RenewRequest {
  lease_id: string;
}
export interface RenewResponse {
  lease_id: string;
  ttl_ms: number;
}
export interface ReleaseRequest {
  lease_id: string;
  name: string;
}
export interface ReleaseResponse {
  released: boolean;
}
export interface DescribeRequest {
  name: string;
}
export interface DescribeResponse {
  held: boolean;
  owner: string;
  fencing_token: number;
  remaining_ms: number;
  waiters: number;
}
export interface WatchRequest {
  prefix: string;
}
export enum LockEventType {
  ACQUIRED = 0,
  RELEASED = 1,
  EXPIRED = 2,
}
export interface LockEvent {
  name: string;
  type: LockEventType;
  owner: string;
  fencing_token: number;
}

export interface CampaignRequest {
  election: string;
  candidate: string;
  value: string;
  ttl_ms: number;
  wait_ms: number;
  request_id: string;
  lease_id: string;
}
export interface CampaignResponse {
  elected: boolean;
  lease_id: string;
  fencing_token: number;
  ttl_ms: number;
}
export interface ProclaimRequest {
  election: string;
  lease_id: string;
  value: string;
}
export type ProclaimResponse = Record<string, never>;
export interface ResignRequest {
  election: string;
  lease_id: string;
}
export interface ResignResponse {
  resigned: boolean;
}
export interface LeaderRequest {
  election: string;
}
export interface LeaderResponse {
  has_leader: boolean;
  candidate: string;
  value: string;
  fencing_token: number;
}

export interface Member {
  id: string;
  peer_address: string;
  client_address: string;
  match_index: number;
  is_leader: boolean;
}
export type StatusRequest = Record<string, never>;
export interface StatusResponse {
  id: string;
  role: string;
  term: number;
  leader_id: string;
  leader_client_address: string;
  commit_index: number;
  applied_index: number;
  members: Member[];
}
export type ListMembersRequest = Record<string, never>;
export interface MembersResponse {
  members: Member[];
  leader_id: string;
  config_index: number;
}
export interface TransferLeadershipRequest {
  /** Target node id; empty: the most caught-up follower. */
  id: string;
}
export interface TransferLeadershipResponse {
  leader_id: string;
}

/** Per call: the client's deadline on this node's monotonic clock, and cancellation. */
export interface CallContext {
  readonly deadline?: number;
  readonly signal?: AbortSignal;
  /** Set when another node forwarded the call: it must not be forwarded again. */
  readonly forwarded?: boolean;
  /** The member that forwarded the call, and the client address it serves on. */
  readonly forwardedBy?: { readonly id: string; readonly clientAddress: string };
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
  transferLeadership(
    req: TransferLeadershipRequest,
    ctx: CallContext,
  ): Promise<TransferLeadershipResponse>;
  /** True while this node knows a leader and has applied up to its commit index. */
  isServing(): boolean;
}
