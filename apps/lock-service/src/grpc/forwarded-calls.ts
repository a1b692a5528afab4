// The leader's side of forwarding: the API's unary methods on the peer plane (the Raft
// transport's listener), for calls followers forward. The peer plane is where a call's
// forwarding marks and principal are believed, and only from a member (mutual TLS).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { PeerService } from '../../../../libs/raft/src/index.js';
import type { CallContext, LockApi } from '../domain/api.js';
import { DomainError } from '../domain/errors.js';
import type { ServiceName } from '../domain/router.js';
import { type CallFacts, withContext } from './call-context.js';
import { FORWARDED_HEADER, parseForwardedBy, PRINCIPAL_HEADER } from './grpc-forwarder.js';
import { loadApiPackage } from './proto.js';

type UnaryMethod =
  | 'acquire'
  | 'renew'
  | 'release'
  | 'describe'
  | 'campaign'
  | 'proclaim'
  | 'resign'
  | 'leader'
  | 'status'
  | 'listMembers'
  | 'addMember'
  | 'promoteMember'
  | 'removeMember'
  | 'transferLeadership';

/** What a follower forwards: every unary method (streams are served by the node that has them). */
const FORWARDED: Record<ServiceName, Record<string, UnaryMethod>> = {
  LockService: { Acquire: 'acquire', Renew: 'renew', Release: 'release', Describe: 'describe' },
  ElectionService: {
    Campaign: 'campaign',
    Proclaim: 'proclaim',
    Resign: 'resign',
    Leader: 'leader',
  },
  ClusterService: {
    Status: 'status',
    ListMembers: 'listMembers',
    AddMember: 'addMember',
    PromoteMember: 'promoteMember',
    RemoveMember: 'removeMember',
    TransferLeadership: 'transferLeadership',
  },
};

export interface ForwardedCallsOptions {
  /** Whether the call comes from a member (TransportSecurity.fromMember). */
  readonly fromMember: (call: grpc.ServerUnaryCall<unknown, unknown>) => boolean;
  readonly logger: Logger;
}

/** What the call's metadata says of its forwarding, believed on the peer plane only. */
export function forwardedFacts(md: grpc.Metadata): CallFacts {
  const [by] = md.get(FORWARDED_HEADER);
  const [principal] = md.get(PRINCIPAL_HEADER);
  const forwardedBy = typeof by === 'string' ? parseForwardedBy(by) : undefined;
  let who: string | undefined;
  try {
    who = typeof principal === 'string' ? decodeURIComponent(principal) : undefined;
  } catch {
    who = undefined; // not what a member sends: the call goes on as nobody's
  }
  return {
    forwarded: true,
    ...(forwardedBy === undefined ? {} : { forwardedBy }),
    ...(who === undefined ? {} : { principal: who }),
  };
}

/**
 * The services, answering UNAVAILABLE until attach() hands them the API: the transport starts
 * (and may be called) before the node that serves the API exists.
 */
export class ForwardedCalls {
  private api: LockApi | undefined;

  constructor(private readonly opts: ForwardedCallsOptions) {}

  attach(api: LockApi): void {
    this.api = api;
  }

  services(): PeerService[] {
    const pkg = loadApiPackage();
    return Object.entries(FORWARDED).map(([service, methods]) => ({
      definition: (pkg[service] as grpc.ServiceClientConstructor).service,
      implementation: Object.fromEntries(
        Object.entries(methods).map(([name, method]) => [name, this.handler(method)]),
      ),
    }));
  }

  private handler(method: UnaryMethod): grpc.handleUnaryCall<unknown, unknown> {
    return (call, callback) => {
      if (!this.opts.fromMember(call)) {
        this.opts.logger.warn(
          { method, peer: call.getPeer() },
          'forwarded call refused: the caller showed no member certificate',
        );
        callback({
          code: grpc.status.UNAUTHENTICATED,
          details: 'forwarded calls are accepted from members only (a peer CA certificate)',
        });
        return;
      }
      const api = this.api;
      if (api === undefined) {
        callback({ code: grpc.status.UNAVAILABLE, details: 'this node is starting' });
        return;
      }
      const run = (ctx: CallContext) =>
        (api[method] as (this: LockApi, req: unknown, ctx: CallContext) => Promise<unknown>).call(
          api,
          call.request,
          ctx,
        );
      withContext(call, run, forwardedFacts(call.metadata))
        .then((res) => callback(null, res))
        .catch((e: unknown) => callback(this.toStatus(e, method)));
    };
  }

  private toStatus(e: unknown, method: UnaryMethod): Partial<grpc.StatusObject> {
    if (e instanceof DomainError) return { code: e.code as number, details: e.message };
    this.opts.logger.error({ err: e, method }, 'unexpected error in a forwarded call');
    return { code: grpc.status.INTERNAL, details: 'internal error' };
  }
}
