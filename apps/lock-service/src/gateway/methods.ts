// The JSON-RPC methods: each is a gRPC method of the API, with the messages the proto3 JSON
// mapping reads and writes, the RPC whose permission it needs, and the LockApi call.
import type { CallContext, LockApi } from '../domain/api.js';
import type { RpcName } from '../security/rpc-access.js';

export interface UnaryMethod {
  readonly rpc: RpcName;
  readonly request: string;
  readonly response: string;
  readonly call: (api: LockApi, req: never, ctx: CallContext) => Promise<unknown>;
}

export interface StreamMethod {
  readonly rpc: RpcName;
  readonly request: string;
  readonly item: string;
  /** The notification that carries each item. */
  readonly notification: string;
  readonly open: (api: LockApi, req: never, ctx: CallContext) => AsyncIterable<unknown>;
  /** The name an item is about, which its subscriber must be allowed to read. */
  readonly nameOf: (req: Record<string, unknown>, item: Record<string, unknown>) => string;
}

const unary = <Req, Res>(
  rpc: RpcName,
  request: string,
  response: string,
  call: (api: LockApi, req: Req, ctx: CallContext) => Promise<Res>,
): UnaryMethod => ({ rpc, request, response, call: call });

export const UNARY_METHODS: Readonly<Record<string, UnaryMethod>> = {
  'lock.acquire': unary('LockService/Acquire', 'AcquireRequest', 'AcquireResponse', (a, r, c) =>
    a.acquire(r as never, c),
  ),
  'lock.renew': unary('LockService/Renew', 'RenewRequest', 'RenewResponse', (a, r, c) =>
    a.renew(r as never, c),
  ),
  'lock.release': unary('LockService/Release', 'ReleaseRequest', 'ReleaseResponse', (a, r, c) =>
    a.release(r as never, c),
  ),
  'lock.describe': unary('LockService/Describe', 'DescribeRequest', 'DescribeResponse', (a, r, c) =>
    a.describe(r as never, c),
  ),
  'election.campaign': unary(
    'ElectionService/Campaign',
    'CampaignRequest',
    'CampaignResponse',
    (a, r, c) => a.campaign(r as never, c),
  ),
  'election.proclaim': unary(
    'ElectionService/Proclaim',
    'ProclaimRequest',
    'ProclaimResponse',
    (a, r, c) => a.proclaim(r as never, c),
  ),
  'election.resign': unary('ElectionService/Resign', 'ResignRequest', 'ResignResponse', (a, r, c) =>
    a.resign(r as never, c),
  ),
  'election.leader': unary('ElectionService/Leader', 'LeaderRequest', 'LeaderResponse', (a, r, c) =>
    a.leader(r as never, c),
  ),
  'cluster.status': unary('ClusterService/Status', 'StatusRequest', 'StatusResponse', (a, r, c) =>
    a.status(r as never, c),
  ),
};

/** Subscriptions: on the WebSocket only, answered with a subscription id. */
export const STREAM_METHODS: Readonly<Record<string, StreamMethod>> = {
  'lock.watch': {
    rpc: 'LockService/Watch',
    request: 'WatchRequest',
    item: 'LockEvent',
    notification: 'lock.event',
    open: (a, r, c) => a.watch(r, c),
    nameOf: (_req, item) => item['name'] as string,
  },
  'election.observe': {
    rpc: 'ElectionService/Observe',
    request: 'LeaderRequest',
    item: 'LeaderResponse',
    notification: 'election.leader',
    open: (a, r, c) => a.observe(r, c),
    nameOf: (req) => req['election'] as string,
  },
};

/** The live view's subscription: a snapshot of the cluster every VIEW_INTERVAL_MS. */
export const VIEW_METHOD = 'cluster.watch';
export const VIEW_NOTIFICATION = 'cluster.view';
export const UNSUBSCRIBE = 'unsubscribe';
