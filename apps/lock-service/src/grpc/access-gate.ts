// The client plane's door: every call of the public API is admitted by the AccessControl before
// it reaches the LockApi, with what grpc-js knows of its caller (address, metadata, verified
// certificate). Streams deliver only what their caller may read.
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { Inject, Injectable } from '@nestjs/common';
import type { Observable } from 'rxjs';
import type { CallContext } from '../domain/api.js';
import type { AccessControl, Admission, CallerFacts } from '../security/access-control.js';
import type { RpcName } from '../security/rpc-access.js';
import { type GrpcCall, streamWithContext, withContext } from './call-context.js';
import { ACCESS_CONTROL } from './tokens.js';

type AuthContext = ReturnType<ServerUnaryCall<unknown, unknown>['getAuthContext']>;

/** A grpc-js server call, as much of it as admission reads. */
export interface GatedCall extends GrpcCall {
  getPeer(): string;
  getAuthContext(): AuthContext;
}

function callerFacts(call: GatedCall): CallerFacts {
  // grpc-js gives the certificate only once TLS verified it against the trusted CA.
  const certificate = call.getAuthContext().sslPeerCertificate;
  return {
    peer: call.getPeer(),
    authorization: call.metadata.get('authorization'),
    ...(certificate ? { certificate } : {}),
  };
}

@Injectable()
export class AccessGate {
  constructor(@Inject(ACCESS_CONTROL) private readonly access: AccessControl) {}

  /** Runs a unary call's handler once the call is admitted. */
  unary<T>(
    call: GatedCall,
    rpc: RpcName,
    req: unknown,
    handler: (ctx: CallContext) => Promise<T>,
  ): Promise<T> {
    return withContext(call, async (ctx) => {
      const caller = callerFacts(call);
      const a = this.access.admit(rpc, req, ctx, caller);
      try {
        return await handler(a.ctx);
      } catch (e) {
        this.access.failed(a, caller, e);
        throw e;
      }
    });
  }

  /**
   * Opens a stream once the call is admitted. `failed` reports what the stream's work was
   * refused (KeepAlive: a renewal of another identity's lease).
   */
  stream<T>(
    call: GatedCall,
    rpc: RpcName,
    req: unknown,
    handler: (a: Admission, failed: (e: unknown) => void) => Observable<T>,
  ): Observable<T> {
    return streamWithContext(call, (ctx) => {
      const caller = callerFacts(call);
      const a = this.access.admit(rpc, req, ctx, caller);
      return handler(a, (e) => this.access.failed(a, caller, e));
    });
  }
}

/**
 * The items of `source` that `keep` accepts. Returning it returns the source at once, so that a
 * client going away releases its stream even while nothing readable arrives.
 */
export function onlyReadable<T>(
  source: AsyncIterable<T>,
  keep: (item: T) => boolean,
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      return {
        async next() {
          for (;;) {
            const n = await it.next();
            if (n.done || keep(n.value)) return n;
          }
        },
        return: (value?: unknown) =>
          it.return?.(value) ?? Promise.resolve({ done: true as const, value: undefined }),
      };
    },
  };
}
