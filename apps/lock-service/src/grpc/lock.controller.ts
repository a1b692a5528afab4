import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject, UseFilters } from '@nestjs/common';
import { GrpcMethod, GrpcStreamMethod } from '@nestjs/microservices';
import { concatMap, finalize, type Observable } from 'rxjs';
import type {
  AcquireRequest,
  AcquireResponse,
  DescribeRequest,
  DescribeResponse,
  LockApi,
  LockEvent,
  ReleaseRequest,
  ReleaseResponse,
  RenewRequest,
  RenewResponse,
  WatchRequest,
} from '../domain/api.js';
import { type GrpcCall, streamFrom, streamWithContext, withContext } from './call-context.js';
import { GrpcExceptionFilter } from './exception.filter.js';
import { LOCK_API } from './tokens.js';

@Controller()
@UseFilters(GrpcExceptionFilter)
export class LockController {
  constructor(@Inject(LOCK_API) private readonly api: LockApi) {}

  @GrpcMethod('LockService', 'Acquire')
  acquire(req: AcquireRequest, _md: Metadata, call: GrpcCall): Promise<AcquireResponse> {
    return withContext(call, (ctx) => this.api.acquire(req, ctx));
  }

  @GrpcMethod('LockService', 'Renew')
  renew(req: RenewRequest, _md: Metadata, call: GrpcCall): Promise<RenewResponse> {
    return withContext(call, (ctx) => this.api.renew(req, ctx));
  }

  /**
   * concatMap answers renewals one at a time, in the order they came. The stream holds one of
   * the node's stream slots while it is open (RESOURCE_EXHAUSTED at once when none is free).
   */
  @GrpcStreamMethod('LockService', 'KeepAlive')
  keepAlive(
    requests: Observable<RenewRequest>,
    _md: Metadata,
    call: GrpcCall,
  ): Observable<RenewResponse> {
    return streamWithContext(call, (ctx) => {
      const closeSlot = this.api.openKeepAlive(ctx);
      return requests.pipe(
        concatMap((req) => this.api.renew(req, ctx)),
        finalize(closeSlot),
      );
    });
  }

  @GrpcMethod('LockService', 'Release')
  release(req: ReleaseRequest, _md: Metadata, call: GrpcCall): Promise<ReleaseResponse> {
    return withContext(call, (ctx) => this.api.release(req, ctx));
  }

  @GrpcMethod('LockService', 'Describe')
  describe(req: DescribeRequest, _md: Metadata, call: GrpcCall): Promise<DescribeResponse> {
    return withContext(call, (ctx) => this.api.describe(req, ctx));
  }

  @GrpcMethod('LockService', 'Watch')
  watch(req: WatchRequest, _md: Metadata, call: GrpcCall): Observable<LockEvent> {
    return streamWithContext(call, (ctx) => streamFrom(this.api.watch(req, ctx), call));
  }
}
