import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject, UseFilters } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { Observable } from 'rxjs';
import type {
  CampaignRequest,
  CampaignResponse,
  LeaderRequest,
  LeaderResponse,
  LockApi,
  ProclaimRequest,
  ProclaimResponse,
  ResignRequest,
  ResignResponse,
} from '../domain/api.js';
import { type GrpcCall, streamFrom, streamWithContext, withContext } from './call-context.js';
import { GrpcExceptionFilter } from './exception.filter.js';
import { LOCK_API } from './tokens.js';

@Controller()
@UseFilters(GrpcExceptionFilter)
export class ElectionController {
  constructor(@Inject(LOCK_API) private readonly api: LockApi) {}

  @GrpcMethod('ElectionService', 'Campaign')
  campaign(req: CampaignRequest, _md: Metadata, call: GrpcCall): Promise<CampaignResponse> {
    return withContext(call, (ctx) => this.api.campaign(req, ctx));
  }

  @GrpcMethod('ElectionService', 'Proclaim')
  proclaim(req: ProclaimRequest, _md: Metadata, call: GrpcCall): Promise<ProclaimResponse> {
    return withContext(call, (ctx) => this.api.proclaim(req, ctx));
  }

  @GrpcMethod('ElectionService', 'Resign')
  resign(req: ResignRequest, _md: Metadata, call: GrpcCall): Promise<ResignResponse> {
    return withContext(call, (ctx) => this.api.resign(req, ctx));
  }

  @GrpcMethod('ElectionService', 'Leader')
  leader(req: LeaderRequest, _md: Metadata, call: GrpcCall): Promise<LeaderResponse> {
    return withContext(call, (ctx) => this.api.leader(req, ctx));
  }

  @GrpcMethod('ElectionService', 'Observe')
  observe(req: LeaderRequest, _md: Metadata, call: GrpcCall): Observable<LeaderResponse> {
    return streamWithContext(call, (ctx) => streamFrom(this.api.observe(req, ctx), call));
  }
}
