// QuorumLockModule: the client as a provider, and @Singleton methods campaigning in the
// background; both end with the application (leadership resigned, locks released, closed).
import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { QuorumLockClient } from '../client.js';
import { SingletonCoordinator } from './singleton.coordinator.js';
import {
  QUORUMLOCK_MODULE_OPTIONS,
  type QuorumLockModuleAsyncOptions,
  type QuorumLockModuleOptions,
} from './tokens.js';

const clientProvider: Provider = {
  provide: QuorumLockClient,
  useFactory: (o: QuorumLockModuleOptions) => new QuorumLockClient(o),
  inject: [QUORUMLOCK_MODULE_OPTIONS],
};

@Module({})
export class QuorumLockModule {
  static forRoot(options: QuorumLockModuleOptions): DynamicModule {
    return QuorumLockModule.build(
      { provide: QUORUMLOCK_MODULE_OPTIONS, useValue: options },
      [],
      options.isGlobal ?? true,
    );
  }

  static forRootAsync(options: QuorumLockModuleAsyncOptions): DynamicModule {
    return QuorumLockModule.build(
      {
        provide: QUORUMLOCK_MODULE_OPTIONS,
        useFactory: options.useFactory as (...args: unknown[]) => QuorumLockModuleOptions,
        inject: (options.inject ?? []) as never[],
      },
      (options.imports ?? []) as never[],
      options.isGlobal ?? true,
    );
  }

  private static build(
    optionsProvider: Provider,
    imports: NonNullable<DynamicModule['imports']>,
    global: boolean,
  ): DynamicModule {
    return {
      module: QuorumLockModule,
      global,
      imports: [DiscoveryModule, ...imports],
      providers: [optionsProvider, clientProvider, SingletonCoordinator],
      exports: [QuorumLockClient, SingletonCoordinator, QUORUMLOCK_MODULE_OPTIONS],
    };
  }
}
