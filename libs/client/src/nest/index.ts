// NestJS integration of the Quorum Lock client (imports @nestjs/common and @nestjs/core).
export { QuorumLockModule } from './quorumlock.module.js';
export { SingletonCoordinator } from './singleton.coordinator.js';
export { Singleton, singletonContext, type SingletonContext } from './singleton.decorator.js';
export {
  QUORUMLOCK_MODULE_OPTIONS,
  type QuorumLockModuleAsyncOptions,
  type QuorumLockModuleOptions,
  type SingletonOptions,
} from './tokens.js';
