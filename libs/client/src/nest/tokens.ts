// Injection tokens and options of the NestJS integration.
import type { QuorumLockClientOptions } from '../types.js';

export const QUORUMLOCK_MODULE_OPTIONS = Symbol('QUORUMLOCK_MODULE_OPTIONS');

export interface SingletonOptions {
  /** Lease TTL of a singleton's leadership: how long a crashed leader blocks the next one. */
  readonly ttlMs?: number;
  /** How long each Campaign call queues before standing again (default 30 s). */
  readonly waitMs?: number;
  /** Value announced to observers of the election; default: the client's owner. */
  readonly value?: string;
}

export interface QuorumLockModuleOptions extends QuorumLockClientOptions {
  /** Register the client in every module (default true). */
  readonly isGlobal?: boolean;
  readonly singleton?: SingletonOptions;
}

export interface QuorumLockModuleAsyncOptions {
  readonly imports?: unknown[];
  readonly inject?: unknown[];
  readonly useFactory: (
    ...args: never[]
  ) => QuorumLockModuleOptions | Promise<QuorumLockModuleOptions>;
  readonly isGlobal?: boolean;
}
