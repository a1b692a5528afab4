// Who may make a call: the decision the gRPC layer asks for before each call on the client plane.
// Without --auth-config every caller may do everything but the admin calls, which only loopback
// callers may make (or anyone, with --insecure). With it, a caller is the user its bearer token
// or verified client certificate names, and its roles decide.
import { BlockList, isIP } from 'node:net';
import type { CallContext } from '../domain/api.js';
import { Code, DomainError, permissionDenied } from '../domain/errors.js';
import type { Action } from './auth-config.js';
import { bearerToken, type CertificateFacts, certificateName } from './identity.js';
import type { AccessPolicy } from './policy.js';
import { RPC_ACCESS, type RpcAccess, type RpcName, type Target } from './rpc-access.js';

/** What the transport knows of the caller. */
export interface CallerFacts {
  /** The remote address as grpc-js gives it (call.getPeer()): `host:port`. */
  readonly peer: string;
  /** The `authorization` metadata values. */
  readonly authorization: readonly (string | Buffer)[];
  /** The connection's client certificate, only once TLS verified it. */
  readonly certificate?: CertificateFacts;
}

export interface Admission {
  /** The call's context, with the caller's identity as its principal. */
  readonly ctx: CallContext;
  /**
   * For streams: whether an item about `name` may be delivered. Asked per item, of the config
   * in force then, so that a reload narrowing a grant applies to streams already open.
   */
  readonly readable: (name: string) => boolean;
  readonly rpc: RpcName;
  readonly action: Action;
}

/** A refused call, for the metric and the log: no token, no hash, nothing a name holds. */
export interface Denial {
  readonly rpc: RpcName;
  readonly action: Action;
  readonly code: 'PERMISSION_DENIED' | 'UNAUTHENTICATED';
  /** What the call asked for: a name, a prefix, a lease, the cluster. */
  readonly on: string;
  readonly peer: string;
  readonly principal?: string;
  readonly reason: string;
}

export interface AccessOptions {
  /** --insecure: admin calls are not limited to loopback callers without --auth-config. */
  readonly insecure: boolean;
  readonly onDenied?: (d: Denial) => void;
}

const everything = () => true;

export class AccessControl {
  private policy: AccessPolicy | undefined;

  constructor(private readonly opts: AccessOptions) {}

  /** Turns authentication on (at start) or replaces the config in force (a reload). */
  setPolicy(policy: AccessPolicy): void {
    this.policy = policy;
  }

  get authenticating(): boolean {
    return this.policy !== undefined;
  }

  /** Whether an identity may use any lease (LockNodeOptions.isAdmin). */
  readonly isAdmin = (principal: string): boolean => this.policy?.isAdmin(principal) ?? false;

  /**
   * Admits the call or throws UNAUTHENTICATED / PERMISSION_DENIED. A forwarded call was
   * admitted by the member that received it: it is not judged again, and its principal is the
   * one that member named.
   */
  admit(rpc: RpcName, req: unknown, ctx: CallContext, caller: CallerFacts): Admission {
    const access: RpcAccess = RPC_ACCESS[rpc];
    const action = access.action;
    const target = access.target?.(req);
    if (ctx.forwarded) return { ctx, readable: everything, rpc, action };
    const policy = this.policy;
    const on = describeTarget(action, target);
    const deny = (code: Denial['code'], reason: string, principal?: string): never => {
      this.opts.onDenied?.({ rpc, action, code, on, peer: caller.peer, principal, reason });
      throw code === 'UNAUTHENTICATED'
        ? new DomainError(Code.UNAUTHENTICATED, reason)
        : permissionDenied(action, on, reason);
    };
    if (policy === undefined) {
      if (action === 'admin' && !this.opts.insecure && !isLoopbackPeer(caller.peer))
        deny(
          'PERMISSION_DENIED',
          `without --auth-config, admin calls are taken from loopback callers only, not ${hostOf(caller.peer)}: ` +
            'call from the node itself, or run the server with --auth-config (or --insecure)',
        );
      return { ctx, readable: everything, rpc, action };
    }
    const who = identify(policy, caller);
    if ('unknown' in who) return deny('UNAUTHENTICATED', who.unknown);
    const user = who.user;
    const admitted = { ctx: { ...ctx, principal: user }, rpc, action };
    const refuse = () =>
      deny('PERMISSION_DENIED', `no role of ${JSON.stringify(user)} grants it`, user);
    if (action === 'admin') {
      if (!policy.isAdmin(user)) refuse();
      return { ...admitted, readable: everything };
    }
    if (target === undefined) return { ...admitted, readable: everything };
    if ('prefix' in target) {
      if (policy.readCoverage(user, target.prefix) === 'none') refuse();
    } else if (!policy.allows(user, action, target.name)) refuse();
    return { ...admitted, readable: (name) => this.policy?.allows(user, 'read', name) ?? false };
  }

  /**
   * A call admitted here that the service then refused for its lease (another identity's):
   * a denial like any other. Forwarded calls are counted where their client called.
   */
  failed(a: Admission, caller: CallerFacts, e: unknown): void {
    if (a.ctx.forwarded || !(e instanceof DomainError) || e.code !== Code.PERMISSION_DENIED) return;
    this.opts.onDenied?.({
      rpc: a.rpc,
      action: a.action,
      code: 'PERMISSION_DENIED',
      on: 'a lease',
      peer: caller.peer,
      principal: a.ctx.principal,
      reason: 'the lease belongs to another identity',
    });
  }
}

/** The user a caller's credentials name. A bearer token, when sent, decides (as in etcd). */
function identify(
  policy: AccessPolicy,
  caller: CallerFacts,
): { user: string } | { unknown: string } {
  const bearer = bearerToken(caller.authorization);
  if ('malformed' in bearer) return { unknown: bearer.malformed };
  if ('token' in bearer) {
    const user = policy.userOfToken(bearer.token);
    return user === undefined ? { unknown: 'unknown bearer token' } : { user };
  }
  if (caller.certificate) {
    const name = certificateName(caller.certificate);
    if (name !== undefined && policy.isUser(name)) return { user: name };
    return {
      unknown: `the client certificate ${name === undefined ? 'names nobody' : `names ${JSON.stringify(name)}, who is no user`}`,
    };
  }
  return {
    unknown: 'no credentials: send "authorization: Bearer <token>" or a client certificate',
  };
}

function describeTarget(action: Action, target: Target | undefined): string {
  if (action === 'admin') return 'the cluster';
  // Renew, KeepAlive and Release of a whole lease name a lease; Status and ListMembers nothing.
  if (target === undefined) return action === 'lock' ? 'a lease' : 'the cluster';
  return 'prefix' in target
    ? `prefix ${JSON.stringify(target.prefix)}`
    : JSON.stringify(target.name);
}

/** The host part of grpc-js's `host:port` peer (IPv6 comes without brackets). */
function hostOf(peer: string): string {
  const colon = peer.lastIndexOf(':');
  const host = colon > 0 && /^\d+$/.test(peer.slice(colon + 1)) ? peer.slice(0, colon) : peer;
  return host.replace(/^\[(.*)\]$/, '$1');
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** 127.0.0.0/8, ::1, and IPv4-mapped loopback: a caller on this machine. */
export function isLoopbackPeer(peer: string): boolean {
  const host = hostOf(peer);
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}
