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

export const SERVER_CONFIG = Symbol('ServerConfig');
export const LOCK_NODE = Symbol('LockNode');

@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: ServerConfig, logger: Logger): DynamicModule {
    return {
      module: ConfigModule,
      providers: [
        { provide: SERVER_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
      ],
      exports: [SERVER_CONFIG, LOGGER],
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
      useFactory: (config: ServerConfig, logger: Logger) =>
        LockNode.start(toLockNodeOptions(config, logger)),
      inject: [SERVER_CONFIG, LOGGER],
    },
    { provide: LOCK_API, useExisting: LOCK_NODE },
    LockNodeLifecycle,
  ],
  exports: [LOCK_NODE, LOCK_API, LockNodeLifecycle],
})
export class LockModule {}

@Module({})
export class AppModule {
  static forRoot(config: ServerConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config, logger), LockModule, GrpcApiModule, HttpApiModule],
    };
  }
}
