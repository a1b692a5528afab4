// Promise-based clients of the public API for tests: one per service, on one node's address.
import * as grpc from '@grpc/grpc-js';
import { loadApiPackage } from '../../apps/lock-service/src/grpc/proto.js';

/** A grpc-js client's unary method, as loaded from the proto (the call handle lets a test cancel). */
export type Unary = (
  req: object,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (e: grpc.ServiceError | null, r: unknown) => void,
) => grpc.ClientUnaryCall;

export class ApiClient {
  readonly lock: grpc.Client;
  readonly election: grpc.Client;
  readonly cluster: grpc.Client;

  /**
   * token: sent as `authorization: Bearer <token>` on every call (a cluster with auth); creds:
   * the channel's (TLS), default plaintext.
   */
  constructor(
    readonly address: string,
    options: grpc.ChannelOptions = {},
    private readonly token?: string,
    creds = grpc.credentials.createInsecure(),
  ) {
    const v1 = loadApiPackage();
    const client = (service: unknown) =>
      new (service as grpc.ServiceClientConstructor)(address, creds, options);
    this.lock = client(v1.LockService);
    this.election = client(v1.ElectionService);
    this.cluster = client(v1.ClusterService);
  }

  /** Calls a unary method; resolves with the response or rejects with the grpc ServiceError. */
  call<T = Record<string, unknown>>(
    client: grpc.Client,
    method: string,
    req: object,
    timeoutMs = 10_000,
    md = this.metadata(),
  ): Promise<T> {
    const fn = (client as unknown as Partial<Record<string, Unary>>)[method];
    if (fn === undefined) throw new Error(`the client has no method ${method}`);
    return new Promise((resolve, reject) => {
      fn.call(client, req, md, { deadline: Date.now() + timeoutMs }, (e, r) =>
        e ? reject(e) : resolve(r as T),
      );
    });
  }

  /** Every call's metadata: the token, if this client has one. */
  metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.token !== undefined) md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  close(): void {
    for (const c of [this.lock, this.election, this.cluster]) c.close();
  }
}
