// Shared by the SDK's specs: a client on a cluster, fresh names, bounded waits. The cluster is
// the test kit's (test/support/cluster.ts), taken by shape: this file is compiled with libs/
// (the Docker image's build), where test/ is not.
import { QuorumLockClient, type QuorumLockClientOptions } from '../src/index.js';

interface Cluster {
  endpoints(): string[];
}

/** Clients made here are closed by closeClients() in afterEach/afterAll. */
const open = new Set<QuorumLockClient>();

export function clientFor(c: Cluster, o: Partial<QuorumLockClientOptions> = {}) {
  const client = new QuorumLockClient({ endpoints: c.endpoints(), ...o });
  open.add(client);
  return client;
}

export async function closeClients(): Promise<void> {
  const all = [...open];
  open.clear();
  await Promise.all(all.map((cl) => cl.close()));
}

let counter = 0;
export const fresh = (what: string) => `${what}-${process.pid}-${++counter}`;

/** Resolves with the value of the first `event` on emitter, or rejects after timeoutMs. */
export function nextEvent<T extends unknown[]>(
  emitter: { once(event: string, fn: (...args: T) => void): unknown },
  event: string,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${event} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    emitter.once(event, (...args: T) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

/** Takes values from an async iterator until pred matches one (bounded by timeoutMs). */
export async function nextMatching<T>(
  it: AsyncIterator<T>,
  pred: (v: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`no matching value within ${timeoutMs} ms`);
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      it.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no matching value within ${timeoutMs} ms`)),
          left,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    if (r.done) throw new Error('the iterator ended');
    if (pred(r.value)) return r.value;
  }
}
