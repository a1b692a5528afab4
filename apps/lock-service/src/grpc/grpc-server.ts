// The Nest gRPC transport, extended where Nest 12 gives no handle: ServerGrpc.unwrap() throws,
// the port bound for ":0" is dropped, and close() is either a graceful shutdown with no time
// limit or an immediate one.
import * as grpc from '@grpc/grpc-js';
import { ServerGrpc } from '@nestjs/microservices';
import { API_PACKAGE_DEFINITION, MAX_MESSAGE_BYTES, QUORUMLOCK_PACKAGE } from './proto.js';

export interface GrpcServerOptions {
  /** host:port to bind; port 0 picks a free port, see `port`. */
  readonly address: string;
  /** Adds services outside Nest's controllers (the health service) to the same server. */
  readonly addServices?: (server: grpc.Server) => void;
  /** grpc-js server interceptors (metrics), run around every call including health checks. */
  readonly interceptors?: grpc.ServerInterceptor[];
  /** Server-side HTTP/2 keepalive pings; see ApplicationOptions.grpcKeepalive. */
  readonly keepalive?: { readonly intervalMs: number; readonly timeoutMs: number };
  /** TLS, say; default plaintext. */
  readonly credentials?: grpc.ServerCredentials;
}

export class QuorumLockGrpcServer extends ServerGrpc {
  private boundPort = 0;
  private drained: Promise<void> | undefined;

  constructor(private readonly serverOptions: GrpcServerOptions) {
    super({
      url: serverOptions.address,
      package: [QUORUMLOCK_PACKAGE],
      packageDefinition: API_PACKAGE_DEFINITION,
      // Nest's documented hook (it is how reflection is added), called with the grpc-js Server.
      onLoadPackageDefinition: (_definition: unknown, server: grpc.Server) =>
        serverOptions.addServices?.(server),
    });
  }

  /** The bound port: the configured one, or the one the OS picked for port 0. */
  get port(): number {
    return this.boundPort;
  }

  /** Replaces Nest's only to keep the bound port; Nest then adds its services to this server. */
  override async createClient(): Promise<grpc.Server> {
    const server = new grpc.Server({
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      interceptors: this.serverOptions.interceptors ?? [],
      'grpc.keepalive_time_ms': this.serverOptions.keepalive?.intervalMs ?? 10_000,
      'grpc.keepalive_timeout_ms': this.serverOptions.keepalive?.timeoutMs ?? 10_000,
    });
    this.boundPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(
        this.serverOptions.address,
        this.serverOptions.credentials ?? grpc.ServerCredentials.createInsecure(),
        (err, port) => (err ? reject(err) : resolve(port)),
      );
    });
    return server;
  }

  /** Closes the listening socket and refuses new calls; calls in flight go on. */
  stopAccepting(): void {
    const server = this.grpcClient as grpc.Server | null;
    if (server === null || this.drained !== undefined) return;
    this.drained = new Promise((resolve) => server.tryShutdown(() => resolve()));
  }

  /**
   * Waits up to graceMs for calls in flight, then cuts the rest: Watch streams and health
   * Watch calls never end by themselves.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.stopAccepting();
    if (this.drained !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([this.drained, timeout]);
      clearTimeout(timer);
    }
    await this.close();
  }
}
