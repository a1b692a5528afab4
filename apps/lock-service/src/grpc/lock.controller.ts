import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject, UseFilters } from '@nestjs/common';
import { GrpcMethod, GrpcStreamMethod } from '@nestjs/microservices';
import { concatMap, finalize, map, type Observable } from 'rxjs';
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
import { AccessGate, type GatedCall, onlyReadable } from './access-gate.js';
import { streamFrom } from './call-context.js';
import { Code, DomainError } from '../domain/errors.js';
import { GrpcExceptionFilter } from './exception.filter.js';

/** Renewals one KeepAlive stream may have in flight (10,000 leases at TTL/3 fit easily). */
const MAX_RENEWALS_IN_FLIGHT = 4096;
import { LOCK_API } from './tokens.js';
import { ignoreRejection } from '../../../../libs/common/src/ignore.js';

@Controller()
@UseFilters(GrpcExceptionFilter)
export class LockController {
  constructor(
    @Inject(LOCK_API) private readonly api: LockApi,
    private readonly gate: AccessGate,
  ) {}

  @GrpcMethod('LockService', 'Acquire')
  acquire(req: AcquireRequest, _md: Metadata, call: GatedCall): Promise<AcquireResponse> {
    return this.gate.unary(call, 'LockService/Acquire', req, (ctx) => this.api.acquire(req, ctx));
  }

  @GrpcMethod('LockService', 'Renew')
  renew(req: RenewRequest, _md: Metadata, call: GatedCall): Promise<RenewResponse> {
    return this.gate.unary(call, 'LockService/Renew', req, (ctx) => this.api.renew(req, ctx));
  }

  /**
   * Renewals run concurrently and are answered in the order they came. The stream holds one of
   * the node's stream slots while it is open (RESOURCE_EXHAUSTED at once when none is free).
   */
  @GrpcStreamMethod('LockService', 'KeepAlive')
  keepAlive(
    requests: Observable<RenewRequest>,
    _md: Metadata,
    call: GatedCall,
  ): Observable<RenewResponse> {
    return this.gate.stream(call, 'LockService/KeepAlive', undefined, ({ ctx }, failed) => {
      const closeSlot = this.api.openKeepAlive(ctx);
      let inFlight = 0;
      return requests.pipe(
        // Start each renewal as it arrives, so that one stream carrying many leases shares
        // the leader's heartbeat rounds, but answer in arrival order; bounded per stream.
        map((req) => {
          if (++inFlight > MAX_RENEWALS_IN_FLIGHT) {
            return Promise.reject(
              new DomainError(
                Code.RESOURCE_EXHAUSTED,
                'too many renewals in flight on this stream',
              ),
            );
          }
          const p = this.api.renew(req, ctx).finally(() => inFlight--);
          void p.catch(failed);
          // concatMap reports a failure in order, but never reaches the ones after the first.
          void ignoreRejection(p, 'an earlier renewal on this stream has failed it');
          return p;
        }),
        concatMap((p) => p),
        finalize(closeSlot),
      );
    });
  }

  @GrpcMethod('LockService', 'Release')
  release(req: ReleaseRequest, _md: Metadata, call: GatedCall): Promise<ReleaseResponse> {
    return this.gate.unary(call, 'LockService/Release', req, (ctx) => this.api.release(req, ctx));
  }

  @GrpcMethod('LockService', 'Describe')
  describe(req: DescribeRequest, _md: Metadata, call: GatedCall): Promise<DescribeResponse> {
    return this.gate.unary(call, 'LockService/Describe', req, (ctx) => this.api.describe(req, ctx));
  }

  /** Delivers only the names its caller may read, of the prefix it watches. */
  @GrpcMethod('LockService', 'Watch')
  watch(req: WatchRequest, _md: Metadata, call: GatedCall): Observable<LockEvent> {
    return this.gate.stream(call, 'LockService/Watch', req, (a) =>
      streamFrom(
        onlyReadable(this.api.watch(req, a.ctx), (e) => a.readable(e.name)),
        call,
      ),
    );
  }
}
