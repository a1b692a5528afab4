// The clients of a chaos run: lock holders on a few hot locks (acquire with and without waits,
// hold while writing to the fenced store, release; some crash and abandon their lease), holders
// of a shared lock, a semaphore and a lock with a lock-delay (the same, on locks of their own),
// election candidates, a describer, and a prober that abandons leases and watches them expire.
// Every loop checks `stopping` between operations and every operation is bounded, so stop() is
// bounded.
import { QuorumLockClient } from '@quorumlock/client';
import { randomInt, seededRandom, type Random } from '../../libs/raft/src/prng.js';
import type { FencedStore, Recorder } from './history.js';
import { type Held, type HoldKind, RawClient, RecordedClient, lockKey } from './recorded-client.js';
import { StreamRecorders } from './streams.js';
import { ignoreRejection } from '../../libs/common/src/ignore.js';
import { sleep, TIMED_OUT, within } from '../../libs/testing/src/wait.js';

export const HOT_LOCKS = ['hot/a', 'hot/b', 'hot/c'];
/**
 * The other lock kinds, each name always asked for with one limit and lock-delay (a name's limit
 * is fixed while anyone holds or waits for it): readers and writers on one, a semaphore with
 * fewer places than its clients, and a lock whose holders (some of them abandoned) ask for a
 * delay after an expiry.
 */
export const KIND_LOCKS: Readonly<Record<string, { sharedRatio: number } & HoldKind>> = {
  'kind/rw': { sharedRatio: 0.6 },
  'kind/sem': { sharedRatio: 0, limit: 2 },
  'kind/delay': { sharedRatio: 0, lockDelayMs: 800 },
};
/** Loops on the KIND_LOCKS, besides the `clients` ones (which keep the hot locks as they were). */
const KIND_LOOPS = 4;
export const MAIN_ELECTION = 'e/main';
/** One candidate only: every resign or expiry leaves it with no leader for a moment. */
export const SOLO_ELECTION = 'e/solo';
export const DEAD_PREFIX = 'dead/';
/** The server raises TTLs below its minimum (1 s with the default election timeouts). */
const TTLS = [1000, 1500, 2000, 3000];
const LOCKERS_PER_SDK = 3;

export interface WorkloadOptions {
  endpoints: string[];
  /** Concurrent client loops (at least 9: 4 candidates, a describer, a prober, the lockers). */
  clients: number;
  seed: number;
}

/** One of xs, which must not be empty (randomInt draws from [0, length)). */
const pick = <T>(r: Random, xs: readonly T[]): T => xs[randomInt(r, 0, xs.length)]!;

export const describeError = (e: unknown): string =>
  e instanceof Error ? (e.stack ?? e.message) : String(e);

export class Workload {
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  private readonly sdks: QuorumLockClient[] = [];
  private readonly raws: RawClient[] = [];
  private readonly streams: StreamRecorders;

  constructor(
    private readonly rec: Recorder,
    private readonly store: FencedStore,
    private readonly o: WorkloadOptions,
  ) {
    this.streams = new StreamRecorders(rec, o.endpoints, () => this.sdk());
  }

  /** A new SDK client; the runner's loops share one per few lockers, as services would. */
  sdk(): QuorumLockClient {
    const c = new QuorumLockClient({
      endpoints: this.o.endpoints,
      callTimeoutMs: 5000,
      attemptTimeoutMs: 1500,
    });
    this.sdks.push(c);
    return c;
  }

  private raw(name: string): RawClient {
    const c = new RawClient(this.rec, this.o.endpoints, name);
    this.raws.push(c);
    return c;
  }

  start(): void {
    const seeds = seededRandom(this.o.seed);
    const next = () => seededRandom(Math.floor(seeds() * 2 ** 32));
    const lockers = Math.max(3, this.o.clients - 6);
    let shared: QuorumLockClient | undefined;
    for (let i = 0; i < lockers; i++) {
      if (i % LOCKERS_PER_SDK === 0) shared = this.sdk();
      const rc = new RecordedClient(this.rec, shared!, `L${i}`);
      this.run(rc.name, this.locker(rc, this.raw(`X${i}`), next()));
    }
    for (let i = 0; i < 3; i++) {
      const rc = new RecordedClient(this.rec, this.sdk(), `C${i}`);
      this.run(rc.name, this.candidate(rc, MAIN_ELECTION, next()));
    }
    const solo = new RecordedClient(this.rec, this.sdk(), 'S0');
    this.run('S0', this.candidate(solo, SOLO_ELECTION, next()));
    this.run('D0', this.describer(new RecordedClient(this.rec, this.sdk(), 'D0'), next()));
    const probe = new RecordedClient(this.rec, this.sdk(), 'P0');
    this.run('P0', this.prober(probe, this.raw('P0r'), next()));
    const kindSdk = this.sdk();
    for (let i = 0; i < KIND_LOOPS; i++) {
      const rc = new RecordedClient(this.rec, kindSdk, `K${i}`);
      this.run(rc.name, this.kindLocker(rc, this.raw(`KX${i}`), next()));
    }
    this.streams.start([MAIN_ELECTION, SOLO_ELECTION]);
  }

  /**
   * Every error a loop expects is caught and recorded where it happens, so a loop that throws
   * has a bug (or met an answer nobody planned for): the run fails, since the checks after it
   * examined less than they seem to.
   */
  private run(name: string, loop: Promise<void>): void {
    this.loops.push(
      loop.catch((e: unknown) =>
        this.rec.fail('workload-error', `client ${name}'s loop threw: ${describeError(e)}`),
      ),
    );
  }

  private async locker(rc: RecordedClient, raw: RawClient, r: Random): Promise<void> {
    while (!this.stopping) {
      const name = pick(r, HOT_LOCKS);
      const x = r();
      if (x < 0.2) {
        await rc.describe(name);
        await sleep(randomInt(r, 20, 150));
        continue;
      }
      const ttlMs = pick(r, TTLS);
      if (x < 0.24) {
        await this.crashHolding(raw, name, ttlMs);
        continue;
      }
      const waitMs = r() < 0.5 ? 0 : randomInt(r, 200, 3000);
      const h = await rc.acquire(name, { ttlMs, waitMs });
      if (!h) {
        await sleep(randomInt(r, 10, 200));
        continue;
      }
      // Mostly short holds; some outlive several TTLs, so that renewals carry them.
      const holdMs = r() < 0.15 ? randomInt(r, ttlMs, 3 * ttlMs) : randomInt(r, 0, 600);
      await this.hold(h, holdMs, r);
      await h.release();
    }
  }

  /**
   * A hold of one of the KIND_LOCKS. Only a lone holder (an EXCLUSIVE one of a lock with limit 1)
   * writes to the fenced store: holders side by side write in any token order.
   */
  private async kindLocker(rc: RecordedClient, raw: RawClient, r: Random): Promise<void> {
    const names = Object.keys(KIND_LOCKS);
    while (!this.stopping) {
      const name = pick(r, names);
      const { sharedRatio, ...k } = KIND_LOCKS[name]!;
      const x = r();
      if (x < 0.15) {
        await rc.describe(name);
        await sleep(randomInt(r, 20, 150));
        continue;
      }
      const ttlMs = pick(r, TTLS);
      const kind: HoldKind = r() < sharedRatio ? { shared: true } : k;
      const lone = !kind.shared && (kind.limit ?? 1) <= 1;
      if (x < 0.25) {
        // Abandoned: its lease expires, which starts the lock-delay it asked for.
        await this.crashHolding(raw, name, ttlMs, kind, lone);
        continue;
      }
      const waitMs = r() < 0.4 ? 0 : randomInt(r, 200, 3000);
      const h = await rc.acquire(name, { ttlMs, waitMs, ...kind });
      if (!h) {
        await sleep(randomInt(r, 10, 200));
        continue;
      }
      const holdMs = r() < 0.15 ? randomInt(r, ttlMs, 2 * ttlMs) : randomInt(r, 0, 600);
      await this.hold(h, holdMs, r, lone);
      await h.release();
    }
  }

  /** Writes to the fenced store (if `write`) while the client may act on the lock, for holdMs. */
  private async hold(h: Held, holdMs: number, r: Random, write = true): Promise<void> {
    const until = performance.now() + holdMs;
    let proclaimed = false;
    while (performance.now() < until && !this.stopping) {
      if (!h.valid) return;
      if (write) this.store.write(h.key, h.token, h.client);
      if (!proclaimed && r() < 0.2) {
        proclaimed = true;
        await h.proclaim(`${h.client}@${h.token}`);
      }
      await sleep(randomInt(r, 30, 120));
    }
  }

  /** A client that takes a lock, writes once while its grant is fresh, then dies. */
  private async crashHolding(
    raw: RawClient,
    name: string,
    ttlMs: number,
    kind: HoldKind = {},
    write = true,
  ): Promise<void> {
    const sent = performance.now();
    const g = await raw.acquire(name, ttlMs, kind);
    if (g && write && performance.now() < sent + g.ttlMs - 100)
      this.store.write(lockKey(name), g.token, raw.name);
  }

  private async candidate(rc: RecordedClient, election: string, r: Random): Promise<void> {
    const solo = election === SOLO_ELECTION;
    while (!this.stopping) {
      const ttlMs = pick(r, TTLS);
      const waitMs = solo ? 0 : randomInt(r, 500, 4000);
      const h = await rc.campaign(election, { ttlMs, waitMs });
      if (!h) {
        await sleep(randomInt(r, 50, 300));
        continue;
      }
      const holdMs = r() < 0.15 ? randomInt(r, ttlMs, 2 * ttlMs) : randomInt(r, 100, 1200);
      await this.hold(h, holdMs, r);
      await h.release();
      await sleep(solo ? randomInt(r, 100, 500) : randomInt(r, 0, 300));
    }
  }

  private async describer(rc: RecordedClient, r: Random): Promise<void> {
    while (!this.stopping) {
      if (r() < 0.7) await rc.describe(pick(r, HOT_LOCKS));
      else await rc.leader(pick(r, [MAIN_ELECTION, SOLO_ELECTION]));
      await sleep(randomInt(r, 30, 120));
    }
  }

  /**
   * Takes a lock of its own, renews it a few times, then stops like a dead client and polls
   * Describe until the lease is gone: the checker bounds how long that may take.
   */
  private async prober(rc: RecordedClient, raw: RawClient, r: Random): Promise<void> {
    for (let n = 0; !this.stopping; n++) {
      const name = `${DEAD_PREFIX}${this.o.seed}-${n}`;
      const ttlMs = pick(r, [1000, 1500, 2000]);
      const g = await raw.acquire(name, ttlMs);
      if (!g) {
        await sleep(200);
        continue;
      }
      const renewals = randomInt(r, 0, 4);
      for (let i = 0; i < renewals && !this.stopping; i++) {
        await sleep(g.ttlMs / 3);
        if (!(await raw.renew(name, g.lease, g.ttlMs))) break;
      }
      const until = performance.now() + g.ttlMs + 20_000;
      while (!this.stopping && performance.now() < until) {
        const d = await rc.describe(name);
        if (d.outcome === 'ok' && (!d.held || d.token !== g.token)) break;
        await sleep(100);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Every op is bounded (waits of at most 4 s, calls of 5 s), so loops end well within this.
    if ((await within(Promise.all(this.loops), 30_000)) === TIMED_OUT)
      this.rec.fail('workload-error', 'workload loops still running 30 s after stop');
    await this.streams.stop();
    await Promise.all(
      this.sdks.map((c) =>
        ignoreRejection(c.close({ release: false }), 'the history is complete by now'),
      ),
    );
    for (const c of this.raws) c.close();
  }
}
