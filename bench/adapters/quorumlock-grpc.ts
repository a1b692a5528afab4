// Raw gRPC to one Quorum Lock node, for what the SDK is not made for: creating a million leases
// without a handle (and a timer) per lease, pipelining renewals on KeepAlive streams, and probing
// one particular node (Status, health) rather than "the cluster".
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import type { StatusResponse } from '@quorumlock/client/grpc';
import type { AcquireRequest, AcquireResponse, RenewRequest } from '@quorumlock/client/grpc';
import { API_DEFINITIONS } from '@quorumlock/client/grpc';
import type { LeaseBackend, RenewStream } from './types.js';

type Callback = (e: grpc.ServiceError | null, r: unknown) => void;
type Unary = (req: object, md: grpc.Metadata, o: grpc.CallOptions, cb: Callback) => void;

const creds = grpc.credentials.createInsecure();
/** A probe must see a restarted node at once, not after grpc-js's 1 s+ reconnect backoff. */
const PROBE_CHANNEL: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 20,
  'grpc.max_reconnect_backoff_ms': 100,
};

export class QuorumLockNodeClient {
  readonly lock: grpc.Client;
  readonly cluster: grpc.Client;
  readonly health: grpc.Client;

  constructor(readonly address: string) {
    const defs = API_DEFINITIONS;
    this.lock = new (grpc.makeGenericClientConstructor(defs.LockService, 'LockService'))(
      address,
      creds,
      PROBE_CHANNEL,
    );
    this.cluster = new (grpc.makeGenericClientConstructor(defs.ClusterService, 'ClusterService'))(
      address,
      creds,
      PROBE_CHANNEL,
    );
    // grpc-health-check's definition is proto-loader's type; grpc-js's is structurally the same.
    const hdef = healthService as unknown as grpc.ServiceDefinition;
    this.health = new (grpc.makeGenericClientConstructor(hdef, 'Health'))(
      address,
      creds,
      PROBE_CHANNEL,
    );
  }

  call<T>(client: grpc.Client, method: string, req: object, timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = (client as unknown as Partial<Record<string, Unary>>)[method];
      if (fn === undefined) throw new Error(`the client has no method ${method}`);
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) =>
        e ? reject(e) : resolve(r as T),
      );
    });
  }

  status(timeoutMs = 1000): Promise<StatusResponse> {
    return this.call<StatusResponse>(this.cluster, 'Status', {}, timeoutMs);
  }

  /** The node's own gRPC health answer: it knows a leader and has applied up to its commit. */
  async serving(timeoutMs = 500): Promise<boolean> {
    const r = await this.call<{ status: string | number }>(
      this.health,
      'Check',
      { service: '' },
      timeoutMs,
    );
    return r.status === 'SERVING' || r.status === 1;
  }

  close(): void {
    for (const c of [this.lock, this.cluster, this.health]) c.close();
  }
}

/** Leases on one node (the leader): each is an Acquire of its own lock, our only way to lease. */
export class QuorumLockLeases implements LeaseBackend {
  private readonly node: QuorumLockNodeClient;

  constructor(address: string) {
    this.node = new QuorumLockNodeClient(address);
  }

  async grant(ttlMs: number, name: string): Promise<string> {
    const req: Partial<AcquireRequest> = { name, owner: 'bench', ttl_ms: ttlMs, wait_ms: 0 };
    const r = await this.node.call<AcquireResponse>(this.node.lock, 'Acquire', req, 10_000);
    if (!r.acquired) throw new Error(`${name} is held by ${r.holder}`);
    return r.lease_id;
  }

  async revoke(leaseId: string): Promise<void> {
    await this.node.call(this.node.lock, 'Release', { lease_id: leaseId, name: '' }, 10_000);
  }

  openRenewStream(): Promise<RenewStream> {
    const call = (
      this.node.lock as unknown as { KeepAlive(): grpc.ClientDuplexStream<object, unknown> }
    ).KeepAlive();
    return Promise.resolve(duplexRenewStream(call, (id): RenewRequest => ({ lease_id: id })));
  }

  close(): void {
    this.node.close();
  }
}

/** What both grpc-js and etcd3 return for a bidirectional call. */
interface DuplexCall {
  on(event: 'data', fn: (reply: unknown) => void): unknown;
  on(event: 'end', fn: () => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
  write(item: object): unknown;
  end(): void;
  cancel(): void;
}

/** A renewal stream over a grpc-js duplex call: requests in, one reply per request, in order. */
export function duplexRenewStream(
  call: DuplexCall,
  request: (leaseId: string) => object,
  renewed: (reply: unknown) => boolean = () => true,
): RenewStream {
  let onReply: ((ok: boolean) => void) | undefined;
  let onError: ((e: Error) => void) | undefined;
  let ended = false;
  call.on('data', (reply) => onReply?.(renewed(reply)));
  call.on('error', (e: Error) => {
    if (!ended) onError?.(e);
  });
  call.on('end', () => {
    if (!ended) onError?.(new Error('the server ended the renewal stream'));
  });
  return {
    send: (leaseId) => void call.write(request(leaseId)),
    onReply: (cb) => (onReply = cb),
    onError: (cb) => (onError = cb),
    close: () => {
      ended = true;
      call.end();
      call.cancel();
    },
  };
}
