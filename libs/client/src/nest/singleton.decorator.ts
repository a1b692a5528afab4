// @Singleton(election): a method that runs only on the instance currently elected.
import { AsyncLocalStorage } from 'node:async_hooks';
import 'reflect-metadata';
import type { Leadership } from '../handles.js';

export const SINGLETON_ELECTION = 'quorumlock:singleton-election';

/** What a running singleton method can ask about its term of leadership. */
export interface SingletonContext {
  readonly election: string;
  /** Changes with every new term: use it to fence writes, or to notice a new term began. */
  readonly fencingToken: bigint;
  readonly leaseId: string;
  /** Aborts when leadership is lost (or resigned at shutdown): long-running work stops on it. */
  readonly signal: AbortSignal;
}

/** Who decides whether an instance leads; the coordinator registers itself per instance. */
export interface LeadershipSource {
  leadership(election: string): Leadership | undefined;
}

const sources = new WeakMap<object, LeadershipSource>();
const context = new AsyncLocalStorage<SingletonContext>();

/** @internal */
export function registerSingletonInstance(instance: object, source: LeadershipSource): void {
  sources.set(instance, source);
}

/** @internal */
export function unregisterSingletonInstance(instance: object): void {
  sources.delete(instance);
}

/** Inside a @Singleton method (and what it awaits): its leadership; elsewhere undefined. */
export function singletonContext(): SingletonContext | undefined {
  return context.getStore();
}

/**
 * Marks a method to run only while this instance holds the election `election` (campaigned for
 * in the background by QuorumLockModule from application bootstrap to shutdown).
 *
 * Semantics: every call (from a scheduler, an interval, a queue consumer) runs the method only
 * if this instance is elected at that moment, with leadership confirmed by the client's lease
 * clock; otherwise the call returns undefined without running it. A call already running is
 * not interrupted by force: singletonContext().signal aborts when leadership is lost, so
 * long-running methods must watch it. Works above or below @Interval/@Cron: their metadata is
 * carried over to the wrapper.
 */
export function Singleton(election: string): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    if (typeof original !== 'function') throw new TypeError('@Singleton() decorates methods');
    const wrapped = function (this: object, ...args: unknown[]): unknown {
      const l = sources.get(this)?.leadership(election);
      if (!l?.held) return undefined;
      const ctx: SingletonContext = {
        election,
        fencingToken: l.fencingToken,
        leaseId: l.leaseId,
        signal: l.signal,
      };
      return context.run(ctx, () => original.apply(this, args));
    };
    for (const key of Reflect.getMetadataKeys(original))
      Reflect.defineMetadata(key, Reflect.getMetadata(key, original), wrapped);
    Reflect.defineMetadata(SINGLETON_ELECTION, election, wrapped);
    Object.defineProperty(wrapped, 'name', { value: original.name });
    descriptor.value = wrapped;
    return descriptor;
  };
}
