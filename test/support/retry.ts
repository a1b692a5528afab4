import type { ServiceError } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { LocalCluster } from './cluster.js';
import type { ApiClient } from './grpc-clients.js';
import { sleep } from '../../libs/testing/src/wait.js';

/**
 * Calls fn on each running node in turn until one answers with something other than
 * UNAVAILABLE (or a transport failure), as a client with several endpoints would. Bounded.
 */
export async function onAnyNode<T>(
  cluster: LocalCluster,
  fn: (api: ApiClient) => Promise<T>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (let attempt = 0; performance.now() < deadline; attempt++) {
    const up = cluster.ids.filter((id) => cluster.isUp(id));
    if (up.length === 0) throw new Error('no node is running');
    const id = up[attempt % up.length]!; // modulo the (non-zero) length
    try {
      return await fn(cluster.api(id));
    } catch (e) {
      const code = (e as ServiceError).code;
      if (
        code !== status.UNAVAILABLE &&
        code !== status.DEADLINE_EXCEEDED &&
        code !== status.CANCELLED
      )
        throw e;
      last = e;
      await sleep(25 + Math.random() * 50); // a client's backoff between attempts
    }
  }
  throw new Error(`no node answered within ${timeoutMs} ms: ${String(last)}`);
}

/**
 * fn, again while it fails UNAVAILABLE (a leader starting its term, or changing under load), as
 * a client retries; bounded. Only for calls that may be repeated (a request_id, or a read).
 */
export async function whileUnavailable<T>(fn: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if ((e as ServiceError).code !== status.UNAVAILABLE || performance.now() > deadline) throw e;
      await sleep(50 + Math.random() * 50); // a client's backoff between attempts
    }
  }
}
