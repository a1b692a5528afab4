// The server's Nest modules, one per concern. LockNode.start is wired here and nowhere else.
import {
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Logger } from 'pino';
import { type ServerConfig, toLockNodeOptions } from './config/config.js';
import { LockNode } from './domain/lock-node.js';
import { GrpcApiModule } from './grpc/grpc.module.js';
import { LOCK_API, LOGGER } from './grpc/tokens.js';
import { HttpApiModule } from './http/http.module.js';
import type { Telemetry } from './metrics/telemetry.js';

export const SERVER_CONFIG = Symbol('ServerConfig');
export const LOCK_NODE = Symbol('LockNode');
/** The process's Telemetry, or null when the server runs without metrics. */
export const TELEMETRY = Symbol('Telemetry');

@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: ServerConfig, logger: Logger, telemetry?: Telemetry): DynamicModule {
    return {
      module: ConfigModule,
      providers: [
        { provide: SERVER_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: TELEMETRY, useValue: telemetry ?? null },
      ],
      exports: [SERVER_CONFIG, LOGGER, TELEMETRY],
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

@Global()
@Module({
  providers: [
    {
      provide: LOCK_NODE,
      useFactory: async (config: ServerConfig, logger: Logger, telemetry: Telemetry | null) => {
        const node = await LockNode.start(toLockNodeOptions(config, logger));
        telemetry?.attach(node, logger);
        return node;
      },
      inject: [SERVER_CONFIG, LOGGER, TELEMETRY],
    },
    {
      provide: LOCK_API,
      useFactory: (node: LockNode, telemetry: Telemetry | null) =>
        telemetry ? telemetry.wrapApi(node) : node,
      inject: [LOCK_NODE, TELEMETRY],
    },
    LockNodeLifecycle,
  ],
  exports: [LOCK_NODE, LOCK_API, LockNodeLifecycle],
})
export class LockModule {}

@Module({})
export class AppModule {
  static forRoot(config: ServerConfig, logger: Logger, telemetry?: Telemetry): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config, logger, telemetry),
        LockModule,
        GrpcApiModule,
        telemetry ? HttpApiModule.withRegistry(telemetry) : HttpApiModule,
      ],
    };
  }
}
