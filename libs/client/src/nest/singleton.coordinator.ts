// Finds @Singleton methods at bootstrap and campaigns for their elections in the background.
import { EventEmitter } from 'node:events';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { QuorumLockClient } from '../client.js';
import { NotElectedError } from '../errors.js';
import type { Leadership } from '../handles.js';
import { sleep } from '../connection.js';
import {
  type LeadershipSource,
  registerSingletonInstance,
  SINGLETON_ELECTION,
  unregisterSingletonInstance,
} from './singleton.decorator.js';
import { QUORUMLOCK_MODULE_OPTIONS, type QuorumLockModuleOptions } from './tokens.js';

interface ElectionState {
  readonly name: string;
  leadership?: Leadership;
  loop?: Promise<void>;
}

interface CoordinatorEvents {
  elected: [election: string, leadership: Leadership];
  lost: [election: string, fencingToken: bigint];
}

/**
 * One campaign loop per election: stand (queueing up to waitMs), lead until the lease is lost,
 * stand again. Being queued means taking over as soon as the previous leader's lease ends
 * (resigned at its shutdown, or expired after a crash).
 */
@Injectable()
export class SingletonCoordinator
  extends EventEmitter<CoordinatorEvents>
  implements
    OnApplicationBootstrap,
    BeforeApplicationShutdown,
    OnApplicationShutdown,
    LeadershipSource
{
  private readonly logger = new Logger('QuorumLock');
  private readonly elections = new Map<string, ElectionState>();
  private readonly instances: object[] = [];
  private readonly stopping = new AbortController();

  constructor(
    private readonly client: QuorumLockClient,
    @Inject(QUORUMLOCK_MODULE_OPTIONS) private readonly options: QuorumLockModuleOptions,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!instance || typeof instance !== 'object' || wrapper.isDependencyTreeStatic?.() === false)
        continue;
      const proto = Object.getPrototypeOf(instance) as object | null;
      if (!proto) continue;
      let found = false;
      for (const key of this.scanner.getAllMethodNames(proto)) {
        const fn = instance[key];
        const name =
          typeof fn === 'function'
            ? (Reflect.getMetadata(SINGLETON_ELECTION, fn) as string | undefined)
            : undefined;
        if (name === undefined) continue;
        found = true;
        if (!this.elections.has(name)) this.elections.set(name, { name });
      }
      if (found) {
        registerSingletonInstance(instance, this);
        this.instances.push(instance);
      }
    }
    for (const state of this.elections.values()) state.loop = this.campaign(state);
  }

  /** The live leadership of an election, if this instance holds it. */
  leadership(election: string): Leadership | undefined {
    const l = this.elections.get(election)?.leadership;
    return l?.held ? l : undefined;
  }

  isLeader(election: string): boolean {
    return this.leadership(election) !== undefined;
  }

  private async campaign(state: ElectionState): Promise<void> {
    const o = this.options.singleton ?? {};
    const value = o.value ?? this.options.owner ?? '';
    const stop = this.stopping.signal;
    let failures = 0;
    while (!stop.aborted) {
      try {
        const l = await this.client.campaign(state.name, value, {
          ttlMs: o.ttlMs,
          waitMs: o.waitMs ?? 30_000,
          signal: stop,
        });
        failures = 0;
        state.leadership = l;
        this.logger.log(`elected in ${state.name} (fencing token ${l.fencingToken})`);
        this.emit('elected', state.name, l);
        await new Promise((resolve) => l.signal.addEventListener('abort', resolve, { once: true }));
        state.leadership = undefined;
        if (stop.aborted) return;
        this.logger.warn(`lost leadership of ${state.name}: ${(l.signal.reason as Error).message}`);
        this.emit('lost', state.name, l.fencingToken);
      } catch (e) {
        if (stop.aborted) return;
        if (e instanceof NotElectedError) continue; // still queued behind a live leader: stand again
        failures++;
        this.logger.warn(`campaign for ${state.name} failed: ${(e as Error).message}`);
        const ceiling = Math.min(5000, 100 * 2 ** failures);
        try {
          await sleep(ceiling / 2 + Math.random() * (ceiling / 2), stop);
        } catch {
          return; // only the stop signal cuts the pause short
        }
      }
    }
  }

  /**
   * Resigns, so that another instance takes over at once rather than after the TTL. The
   * client itself is closed later, in onApplicationShutdown, after every provider's own
   * beforeApplicationShutdown has had the chance to use it.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort(new Error('application shutdown'));
    for (const instance of this.instances) unregisterSingletonInstance(instance);
    const held = [...this.elections.values()].flatMap((s) => s.leadership ?? []);
    await Promise.all(
      held.map(async (l) => {
        const resigned = await l.resign().catch((e: unknown) => {
          const why = e instanceof Error ? e.message : String(e);
          this.logger.warn(
            `could not resign ${l.election} (${why}): it ends when its lease expires`,
          );
          return false;
        });
        if (resigned) this.logger.log(`resigned ${l.election}`);
      }),
    );
    await Promise.all([...this.elections.values()].flatMap((s) => s.loop ?? []));
  }

  /** Releases whatever else the application still holds through the client, and closes it. */
  async onApplicationShutdown(): Promise<void> {
    await this.beforeApplicationShutdown();
    await this.client.close();
  }
}
