// The server's Nest modules, one per concern. LockNode.start is wired here and nowhere else.
import { join } from 'node:path';
import {
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Logger } from 'pino';
import {
  GrpcTransport,
  RocksDbStorage,
  type Storage,
  type Transport,
} from '../../../libs/raft/src/index.js';
import { ClusterIdFile } from './cluster-id.js';
import { type ServerConfig, toLockNodeOptions } from './config/config.js';
import { LockNode } from './domain/lock-node.js';
import type { ForwardPort } from './domain/router.js';
import { ForwardedCalls } from './grpc/forwarded-calls.js';
import { GrpcForwarder } from './grpc/grpc-forwarder.js';
import { GrpcApiModule } from './grpc/grpc.module.js';
import { ACCESS_CONTROL, CLUSTER_VIEW, LOCK_API, LOGGER } from './grpc/tokens.js';
import { HttpApiModule } from './http/http.module.js';
import type { Telemetry } from './metrics/telemetry.js';
import type { TransportSecurity } from './tls/transport-security.js';
import type { AccessControl } from './security/access-control.js';

export const SERVER_CONFIG = Symbol('ServerConfig');
export const LOCK_NODE = Symbol('LockNode');
/** The node's ports: Raft storage and transport, and how followers reach the leader's API. */
export const RAFT_STORAGE = Symbol('RaftStorage');
export const RAFT_TRANSPORT = Symbol('RaftTransport');
export const CLUSTER_ID = Symbol('ClusterId');
export const FORWARD_PORT = Symbol('ForwardPort');
/** The process's Telemetry, or null when the server runs without metrics. */
export const TELEMETRY = Symbol('Telemetry');
/** The planes' TLS (TransportSecurity). */
export const TRANSPORT_SECURITY = Symbol('TransportSecurity');
/** The leader's side of forwarding, on the Raft transport's listener. */
export const FORWARDED_CALLS = Symbol('ForwardedCalls');

@Global()
@Module({})
export class ConfigModule {
  static forRoot(
    config: ServerConfig,
    logger: Logger,
    security: TransportSecurity,
    access: AccessControl,
    telemetry?: Telemetry,
  ): DynamicModule {
    return {
      module: ConfigModule,
      providers: [
        { provide: SERVER_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: TRANSPORT_SECURITY, useValue: security },
        { provide: ACCESS_CONTROL, useValue: access },
        { provide: TELEMETRY, useValue: telemetry ?? null },
      ],
      exports: [SERVER_CONFIG, LOGGER, TRANSPORT_SECURITY, ACCESS_CONTROL, TELEMETRY],
    };
  }
}

/**
 * Stops the node once: serve() stops it first with a leadership transfer, and app.close() (on
 * that path or after a failed start-up) must not stop it again without one.
 */
@Injectable()
export class LockNodeLifecycle implements OnApplicationShutdown {
  private stopped: Promise<void> | undefined;

  constructor(@Inject(LOCK_NODE) readonly node: LockNode) {}

  stop(opts: { transferLeadership?: boolean } = {}): Promise<void> {
    this.stopped ??= this.node.stop(opts);
    return this.stopped;
  }

  onApplicationShutdown(): Promise<void> {
    return this.stop();
  }
}

/**
 * Production ports: RocksDB under the data dir, gRPC between peers, and forwarding on the same
 * peer plane (its listener also answers forwarded calls), under the peer credentials.
 */
@Global()
@Module({
  providers: [
    {
      provide: FORWARDED_CALLS,
      useFactory: (security: TransportSecurity, logger: Logger) =>
        new ForwardedCalls({ fromMember: (call) => security.fromMember(call), logger }),
      inject: [TRANSPORT_SECURITY, LOGGER],
    },
    {
      provide: RAFT_STORAGE,
      useFactory: (config: ServerConfig) =>
        RocksDbStorage.open(join(config.dataDir, 'raft'), config.id),
      inject: [SERVER_CONFIG],
    },
    {
      provide: CLUSTER_ID,
      useFactory: (config: ServerConfig, logger: Logger) =>
        new ClusterIdFile(config.dataDir, config, logger),
      inject: [SERVER_CONFIG, LOGGER],
    },
    {
      provide: RAFT_TRANSPORT,
      useFactory: (
        config: ServerConfig,
        storage: Storage,
        logger: Logger,
        security: TransportSecurity,
        forwarded: ForwardedCalls,
        cluster: ClusterIdFile,
      ) =>
        new GrpcTransport({
          id: config.id,
          listenAddress: config.peerAddress,
          peers: config.peers,
          readSnapshot: () => storage.readSnapshot(),
          receiveSnapshot: (meta, chunks) => storage.receiveSnapshot(meta, chunks),
          logger: { warn: (o, m) => logger.warn(o, m) },
          serverCredentials: security.peerServer,
          channelCredentials: security.peerChannel,
          services: forwarded.services(),
          cluster,
          advertiseAddress: config.peers[config.id] ?? config.peerAddress,
        }),
      inject: [
        SERVER_CONFIG,
        RAFT_STORAGE,
        LOGGER,
        TRANSPORT_SECURITY,
        FORWARDED_CALLS,
        CLUSTER_ID,
      ],
    },
    {
      provide: FORWARD_PORT,
      useFactory: (config: ServerConfig, security: TransportSecurity) =>
        new GrpcForwarder(
          { id: config.id, clientAddress: config.clientAddress },
          security.peerChannel,
        ),
      inject: [SERVER_CONFIG, TRANSPORT_SECURITY],
    },
  ],
  exports: [CLUSTER_ID, RAFT_STORAGE, RAFT_TRANSPORT, FORWARD_PORT, FORWARDED_CALLS],
})
export class NodePortsModule {}

@Global()
@Module({
  providers: [
    {
      provide: LOCK_NODE,
      useFactory: async (
        config: ServerConfig,
        logger: Logger,
        access: AccessControl,
        telemetry: Telemetry | null,
        storage: Storage,
        transport: Transport,
        forward: ForwardPort,
        cluster: ClusterIdFile,
      ) => {
        // --join matters only to a node whose data dir belongs to no cluster yet: a node that
        // has data (it bootstrapped, or was added) restarts as the member it is.
        const join = config.join && cluster.id() === '';
        const options = { ...toLockNodeOptions(config, logger), isAdmin: access.isAdmin, join };
        const node = await LockNode.start(options, {
          storage,
          transport,
          forward,
          clusterId: () => cluster.id(),
        });
        telemetry?.attach(node, logger);
        return node;
      },
      inject: [
        SERVER_CONFIG,
        LOGGER,
        ACCESS_CONTROL,
        TELEMETRY,
        RAFT_STORAGE,
        RAFT_TRANSPORT,
        FORWARD_PORT,
        CLUSTER_ID,
      ],
    },
    {
      provide: LOCK_API,
      useFactory: (node: LockNode, telemetry: Telemetry | null, forwarded: ForwardedCalls) => {
        const api = telemetry ? telemetry.wrapApi(node.api) : node.api;
        forwarded.attach(api);
        return api;
      },
      inject: [LOCK_NODE, TELEMETRY, FORWARDED_CALLS],
    },
    { provide: CLUSTER_VIEW, useFactory: (node: LockNode) => node.view, inject: [LOCK_NODE] },
    LockNodeLifecycle,
  ],
  exports: [LOCK_NODE, LOCK_API, CLUSTER_VIEW, LockNodeLifecycle],
})
export class LockModule {}

@Module({})
export class AppModule {
  static forRoot(
    config: ServerConfig,
    logger: Logger,
    security: TransportSecurity,
    access: AccessControl,
    telemetry?: Telemetry,
  ): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config, logger, security, access, telemetry),
        NodePortsModule,
        LockModule,
        GrpcApiModule,
        telemetry ? HttpApiModule.withRegistry(telemetry) : HttpApiModule,
      ],
    };
  }
}
