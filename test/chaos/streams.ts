// Records what Watch and Observe streams deliver, with the runner's receive times. Raw streams
// are single gRPC calls (the server's own ordering promise holds per call); SDK streams follow
// the cluster across nodes the way applications see them.
import type * as grpc from '@grpc/grpc-js';
import type { LeaderResponse } from '../../apps/lock-service/src/domain/api.js';
import type { QuorumLockClient } from '@quorumlock/client';
import { ApiClient } from '../support/grpc-clients.js';
import type { Recorder, StreamEvent } from './history.js';
import { electionKey, lockKey } from './recorded-client.js';
import { sleep, TIMED_OUT, within } from '../../libs/testing/src/wait.js';

const WATCH_KINDS: Record<string, StreamEvent['kind']> = {
  ACQUIRED: 'acquired',
  RELEASED: 'released',
  EXPIRED: 'expired',
};

export class StreamRecorders {
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly apis: ApiClient[];
  private readonly calls = new Set<grpc.ClientReadableStream<unknown>>();
  private n = 0;

  constructor(
    private readonly rec: Recorder,
    endpoints: readonly string[],
    private readonly sdk: () => QuorumLockClient,
  ) {
    this.apis = endpoints.map((a) => new ApiClient(a));
  }

  start(elections: readonly string[]): void {
    this.run('watch', this.watch(this.sdk()));
    for (const e of elections) {
      this.run(`observe ${e}`, this.observe(this.sdk(), e));
      this.run(`raw observe ${e}`, this.rawObserve(e));
    }
  }

  /** A stream loop catches what a stream may throw: one that throws anyway fails the run. */
  private run(name: string, loop: Promise<void>): void {
    this.loops.push(
      loop.catch((e: unknown) =>
        this.rec.fail(
          'workload-error',
          `the ${name} stream loop threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
        ),
      ),
    );
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  /** SDK Watch of every lock; a gap (re-subscription) starts a new stream id. */
  private async watch(sdk: QuorumLockClient): Promise<void> {
    while (!this.stopped) {
      let stream = `sdk-watch-${this.n++}`;
      try {
        const events = sdk.watch('', {
          signal: this.abort.signal,
          onGap: () => {
            const at = this.rec.now();
            this.rec.stream({ at, stream, key: '', kind: 'gap', owner: '', token: 0 });
            stream = `sdk-watch-${this.n++}`;
          },
        });
        for await (const e of events) {
          this.rec.stream({
            at: this.rec.now(),
            stream,
            key: lockKey(e.name),
            kind: WATCH_KINDS[e.type] ?? 'gap',
            owner: e.owner,
            token: Number(e.fencingToken),
          });
        }
      } catch {
        // The SDK gave up after repeated failures: subscribe again below.
      }
      await sleep(200);
    }
  }

  /** SDK observe(): one id per iterator, across the SDK's own re-subscriptions. */
  private async observe(sdk: QuorumLockClient, election: string): Promise<void> {
    const key = electionKey(election);
    while (!this.stopped) {
      const stream = `sdk-observe-${this.n++}`;
      try {
        for await (const l of sdk.observe(election, { signal: this.abort.signal })) {
          this.rec.stream({
            at: this.rec.now(),
            stream,
            key,
            kind: l.hasLeader ? 'leader' : 'no-leader',
            owner: l.candidate,
            token: Number(l.fencingToken),
          });
        }
      } catch {
        // Ended by repeated failures: a new iterator below.
      }
      await sleep(200);
    }
  }

  /** Raw Observe calls on rotating nodes, each cancelled after a few seconds and re-opened. */
  private async rawObserve(election: string): Promise<void> {
    const key = electionKey(election);
    for (let i = 0; !this.stopped; i++) {
      const api = this.apis[i % this.apis.length]!; // modulo the length
      const stream = `raw-observe-${this.n++}`;
      const call = (
        api.election as unknown as Record<
          'Observe',
          (r: object) => grpc.ClientReadableStream<unknown>
        >
      ).Observe.call(api.election, { election });
      this.calls.add(call);
      await new Promise<void>((done) => {
        const timer = setTimeout(() => call.cancel(), 3000 + Math.random() * 7000);
        call.on('data', (m: LeaderResponse) =>
          this.rec.stream({
            at: this.rec.now(),
            stream,
            key,
            kind: m.has_leader ? 'leader' : 'no-leader',
            owner: m.candidate,
            token: m.fencing_token,
          }),
        );
        call.on('error', () => undefined);
        call.on('status', () => {
          clearTimeout(timer);
          this.calls.delete(call);
          done();
        });
      });
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    for (const c of this.calls) c.cancel();
    if ((await within(Promise.all(this.loops), 10_000)) === TIMED_OUT)
      this.rec.fail('workload-error', 'stream loops still running 10 s after stop');
    for (const a of this.apis) a.close();
  }
}
