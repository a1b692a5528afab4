// Every RPC of the public API and what calling it asks of the caller: an action, and the name it
// applies to. A call that names no lock or election (Renew, KeepAlive, Release of a whole lease,
// Status, ListMembers) needs an authenticated identity only; lease ownership decides the first
// three, and the cluster's own state is readable by any identity, as etcd's member list is.
// grpc.health.v1 is not here: health checks stay open.
import type { Action } from './auth-config.js';

/** The name a call's authorization is about: a lock or election, or a Watch's prefix. */
export type Target = { readonly name: string } | { readonly prefix: string };

export interface RpcAccess {
  readonly action: Action;
  /** The call's target; absent for calls that name none (see above). */
  readonly target?: (req: unknown) => Target | undefined;
}

const field =
  (key: string, as: 'name' | 'prefix' = 'name') =>
  (req: unknown): Target | undefined => {
    const v = (req as Record<string, unknown> | null)?.[key];
    const s = typeof v === 'string' ? v : '';
    return as === 'prefix' ? { prefix: s } : { name: s };
  };

/** Release names a lock, or nothing: then it releases the whole lease. */
const releaseTarget = (req: unknown): Target | undefined => {
  const name = (req as { name?: unknown } | null)?.name;
  return typeof name === 'string' && name !== '' ? { name } : undefined;
};

export const RPC_ACCESS = {
  'LockService/Acquire': { action: 'lock', target: field('name') },
  'LockService/Renew': { action: 'lock' },
  'LockService/KeepAlive': { action: 'lock' },
  'LockService/Release': { action: 'lock', target: releaseTarget },
  'LockService/Describe': { action: 'read', target: field('name') },
  'LockService/Watch': { action: 'read', target: field('prefix', 'prefix') },
  'ElectionService/Campaign': { action: 'elect', target: field('election') },
  'ElectionService/Proclaim': { action: 'elect', target: field('election') },
  'ElectionService/Resign': { action: 'elect', target: field('election') },
  'ElectionService/Leader': { action: 'read', target: field('election') },
  'ElectionService/Observe': { action: 'read', target: field('election') },
  'ClusterService/Status': { action: 'read' },
  'ClusterService/ListMembers': { action: 'read' },
  'ClusterService/TransferLeadership': { action: 'admin' },
  'ClusterService/AddMember': { action: 'admin' },
  'ClusterService/PromoteMember': { action: 'admin' },
  'ClusterService/RemoveMember': { action: 'admin' },
  'ClusterService/Snapshot': { action: 'admin' },
} as const satisfies Record<string, RpcAccess>;

export type RpcName = keyof typeof RPC_ACCESS;
