import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject, UseFilters } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { GrpcMethod } from '@nestjs/microservices';
import type {
  AddMemberRequest,
  ListMembersRequest,
  LockApi,
  MembersResponse,
  PromoteMemberRequest,
  RemoveMemberRequest,
  SnapshotChunk,
  SnapshotRequest,
  StatusRequest,
  StatusResponse,
  TransferLeadershipRequest,
  TransferLeadershipResponse,
} from '../domain/api.js';
import { AccessGate, type GatedCall } from './access-gate.js';
import { streamFrom } from './call-context.js';
import { GrpcExceptionFilter } from './exception.filter.js';
import { LOCK_API } from './tokens.js';

@Controller()
@UseFilters(GrpcExceptionFilter)
export class ClusterController {
  constructor(
    @Inject(LOCK_API) private readonly api: LockApi,
    private readonly gate: AccessGate,
  ) {}

  @GrpcMethod('ClusterService', 'Status')
  status(req: StatusRequest, _md: Metadata, call: GatedCall): Promise<StatusResponse> {
    return this.gate.unary(call, 'ClusterService/Status', req, (ctx) => this.api.status(req, ctx));
  }

  @GrpcMethod('ClusterService', 'ListMembers')
  listMembers(req: ListMembersRequest, _md: Metadata, call: GatedCall): Promise<MembersResponse> {
    return this.gate.unary(call, 'ClusterService/ListMembers', req, (ctx) =>
      this.api.listMembers(req, ctx),
    );
  }

  @GrpcMethod('ClusterService', 'AddMember')
  addMember(req: AddMemberRequest, _md: Metadata, call: GatedCall): Promise<MembersResponse> {
    return this.gate.unary(call, 'ClusterService/AddMember', req, (ctx) =>
      this.api.addMember(req, ctx),
    );
  }

  @GrpcMethod('ClusterService', 'PromoteMember')
  promoteMember(
    req: PromoteMemberRequest,
    _md: Metadata,
    call: GatedCall,
  ): Promise<MembersResponse> {
    return this.gate.unary(call, 'ClusterService/PromoteMember', req, (ctx) =>
      this.api.promoteMember(req, ctx),
    );
  }

  @GrpcMethod('ClusterService', 'RemoveMember')
  removeMember(req: RemoveMemberRequest, _md: Metadata, call: GatedCall): Promise<MembersResponse> {
    return this.gate.unary(call, 'ClusterService/RemoveMember', req, (ctx) =>
      this.api.removeMember(req, ctx),
    );
  }

  @GrpcMethod('ClusterService', 'TransferLeadership')
  transferLeadership(
    req: TransferLeadershipRequest,
    _md: Metadata,
    call: GatedCall,
  ): Promise<TransferLeadershipResponse> {
    return this.gate.unary(call, 'ClusterService/TransferLeadership', req, (ctx) =>
      this.api.transferLeadership(req, ctx),
    );
  }

  /** Streamed at the pace the client reads it (a backup may be large). */
  @GrpcMethod('ClusterService', 'Snapshot')
  snapshot(req: SnapshotRequest, _md: Metadata, call: GatedCall): Observable<SnapshotChunk> {
    return this.gate.stream(call, 'ClusterService/Snapshot', req, (a) =>
      streamFrom(this.api.snapshot(req, a.ctx), call),
    );
  }
}
