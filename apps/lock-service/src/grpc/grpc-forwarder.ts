import * as grpc from '@grpc/grpc-js';
import type { CallContext } from '../domain/api.js';
import { Code, DomainError, unavailable } from '../domain/errors.js';
import type { ForwardPort, ServiceName } from '../domain/router.js';
import { loadApiPackage } from './proto.js';

/** Marks a forwarded call; its value is the forwarding member, `id=client-address`. */
export const FORWARDED_HEADER = 'x-quorumlock-forwarded';
/**
 * The caller the forwarding member authenticated (CallContext.principal), percent-encoded: a
 * certificate's name may hold characters a header value may not.
 */
export const PRINCIPAL_HEADER = 'x-quorumlock-principal';

/** The forwarding member named by a FORWARDED_HEADER value, if it names one. */
export function parseForwardedBy(
  value: string,
): { readonly id: string; readonly clientAddress: string } | undefined {
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1) return undefined;
  return { id: value.slice(0, eq), clientAddress: value.slice(eq + 1) };
}
type UnaryFn = (
  req: unknown,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (e: grpc.ServiceError | null, r: unknown) => void,
) => void;

/**
 * Followers forward calls to the leader, so that clients can use any node (one address behind a
 * load balancer). Forwarding is the peer plane's: calls go to the leader's Raft address under the
 * peer credentials (ForwardedCalls answers them there), marked, and are never forwarded again.
 */
export class GrpcForwarder implements ForwardPort {
  private readonly pkg = loadApiPackage();
  private readonly clients = new Map<string, grpc.Client>();

  /**
   * self: this member, so that the leader learns where it serves clients; credentials: the
   * peer plane's (mutual TLS when configured).
   */
  constructor(
    private readonly self: { readonly id: string; readonly clientAddress: string },
    private readonly credentials = grpc.credentials.createInsecure(),
  ) {}

  async call<T>(
    address: string,
    service: ServiceName,
    method: string,
    req: unknown,
    ctx: CallContext,
  ): Promise<T> {
    const client = this.client(address, service);
    const send = (client as unknown as Partial<Record<string, UnaryFn>>)[method];
    if (typeof send !== 'function') throw new Error(`${service} has no method ${method}`);
    // An abort that came before the call would never reach the listener below.
    if (ctx.signal?.aborted) throw new DomainError(Code.UNAVAILABLE, 'forwarded call cancelled');
    const md = new grpc.Metadata();
    md.set(FORWARDED_HEADER, `${this.self.id}=${this.self.clientAddress}`);
    if (ctx.principal !== undefined) md.set(PRINCIPAL_HEADER, encodeURIComponent(ctx.principal));
    const opts: grpc.CallOptions = {};
    if (ctx.deadline !== undefined)
      opts.deadline = Date.now() + Math.max(0, ctx.deadline - performance.now());
    return new Promise<T>((resolve, reject) => {
      const call = send.call(client, req, md, opts, (err, res) => {
        ctx.signal?.removeEventListener('abort', cancel);
        if (!err) return resolve(res as T);
        reject(toDomainError(err));
      }) as unknown as grpc.ClientUnaryCall;
      const cancel = () => call.cancel();
      ctx.signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  private client(address: string, service: ServiceName): grpc.Client {
    const key = `${service}@${address}`;
    let c = this.clients.get(key);
    if (!c) {
      const Ctor = this.pkg[service] as grpc.ServiceClientConstructor;
      c = new Ctor(address, this.credentials, {
        'grpc.max_receive_message_length': 4 << 20,
      });
      this.clients.set(key, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

function toDomainError(err: grpc.ServiceError): DomainError {
  // Our own codes pass through; a leader that cannot be reached is UNAVAILABLE to the client.
  // UNAUTHENTICATED on the peer plane refuses this member, not the client (the client was
  // authenticated here): the client sees a leader it cannot reach through this node.
  if (
    err.code in Code &&
    err.code !== grpc.status.UNKNOWN &&
    err.code !== grpc.status.UNAUTHENTICATED
  )
    return new DomainError(err.code as unknown as Code, err.details || err.message);
  if (err.code === grpc.status.CANCELLED)
    return new DomainError(Code.UNAVAILABLE, 'forwarded call cancelled');
  return unavailable(`leader unreachable (${grpc.status[err.code] ?? err.code}: ${err.details})`);
}
