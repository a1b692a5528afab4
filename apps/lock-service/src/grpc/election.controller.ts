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
import { AccessGate, type GatedCall, onlyReadable } from './access-gate.js';
import { streamFrom } from './call-context.js';
import { GrpcExceptionFilter } from './exception.filter.js';
import { LOCK_API } from './tokens.js';

@Controller()
@UseFilters(GrpcExceptionFilter)
export class ElectionController {
  constructor(
    @Inject(LOCK_API) private readonly api: LockApi,
    private readonly gate: AccessGate,
  ) {}

  @GrpcMethod('ElectionService', 'Campaign')
  campaign(req: CampaignRequest, _md: Metadata, call: GatedCall): Promise<CampaignResponse> {
    return this.gate.unary(call, 'ElectionService/Campaign', req, (ctx) =>
      this.api.campaign(req, ctx),
    );
  }

  @GrpcMethod('ElectionService', 'Proclaim')
  proclaim(req: ProclaimRequest, _md: Metadata, call: GatedCall): Promise<ProclaimResponse> {
    return this.gate.unary(call, 'ElectionService/Proclaim', req, (ctx) =>
      this.api.proclaim(req, ctx),
    );
  }

  @GrpcMethod('ElectionService', 'Resign')
  resign(req: ResignRequest, _md: Metadata, call: GatedCall): Promise<ResignResponse> {
    return this.gate.unary(call, 'ElectionService/Resign', req, (ctx) => this.api.resign(req, ctx));
  }

  @GrpcMethod('ElectionService', 'Leader')
  leader(req: LeaderRequest, _md: Metadata, call: GatedCall): Promise<LeaderResponse> {
    return this.gate.unary(call, 'ElectionService/Leader', req, (ctx) => this.api.leader(req, ctx));
  }

  @GrpcMethod('ElectionService', 'Observe')
  observe(req: LeaderRequest, _md: Metadata, call: GatedCall): Observable<LeaderResponse> {
    return this.gate.stream(call, 'ElectionService/Observe', req, (a) =>
      streamFrom(
        onlyReadable(this.api.observe(req, a.ctx), () => a.readable(req.election)),
        call,
      ),
    );
  }
}
