import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject, UseFilters } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type {
  AddMemberRequest,
  ListMembersRequest,
  LockApi,
  MembersResponse,
  PromoteMemberRequest,
  RemoveMemberRequest,
  StatusRequest,
  StatusResponse,
  TransferLeadershipRequest,
  TransferLeadershipResponse,
} from '../domain/api.js';
import { type GrpcCall, withContext } from './call-context.js';
import { GrpcExceptionFilter } from './exception.filter.js';
import { LOCK_API } from './tokens.js';

@Controller()
@UseFilters(GrpcExceptionFilter)
export class ClusterController {
  constructor(@Inject(LOCK_API) private readonly api: LockApi) {}

  @GrpcMethod('ClusterService', 'Status')
  status(req: StatusRequest, _md: Metadata, call: GrpcCall): Promise<StatusResponse> {
    return withContext(call, (ctx) => this.api.status(req, ctx));
  }

  @GrpcMethod('ClusterService', 'ListMembers')
  listMembers(req: ListMembersRequest, _md: Metadata, call: GrpcCall): Promise<MembersResponse> {
    return withContext(call, (ctx) => this.api.listMembers(req, ctx));
  }

  @GrpcMethod('ClusterService', 'AddMember')
  addMember(req: AddMemberRequest, _md: Metadata, call: GrpcCall): Promise<MembersResponse> {
    return withContext(call, (ctx) => this.api.addMember(req, ctx));
  }

  @GrpcMethod('ClusterService', 'PromoteMember')
  promoteMember(
    req: PromoteMemberRequest,
    _md: Metadata,
    call: GrpcCall,
  ): Promise<MembersResponse> {
    return withContext(call, (ctx) => this.api.promoteMember(req, ctx));
  }

  @GrpcMethod('ClusterService', 'RemoveMember')
  removeMember(req: RemoveMemberRequest, _md: Metadata, call: GrpcCall): Promise<MembersResponse> {
    return withContext(call, (ctx) => this.api.removeMember(req, ctx));
  }

  @GrpcMethod('ClusterService', 'TransferLeadership')
  transferLeadership(
    req: TransferLeadershipRequest,
    _md: Metadata,
    call: GrpcCall,
  ): Promise<TransferLeadershipResponse> {
    return withContext(call, (ctx) => this.api.transferLeadership(req, ctx));
  }
}
