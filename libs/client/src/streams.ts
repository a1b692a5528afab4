// Server streams (Watch, Observe) as async iterators that follow the cluster across nodes.
import { type ClientReadableStream, status } from '@grpc/grpc-js';
import { fromGrpcError, isServiceError, UnavailableError } from './errors.js';
import type { MethodName, Request, Response, ServiceName } from './proto.js';
import { sleep, type ClusterConnection } from './connection.js';

export interface SubscribeOptions<S extends ServiceName, M extends MethodName<S>, T> {
  readonly service: S;
  readonly method: M;
  readonly request: Request<S, M>;
  readonly map: (w: Response<S, M>) => T;
  /** Called after a broken stream, before subscribing again; false: end with the error. */
  readonly resubscribe: (err: UnavailableError) => boolean;
  readonly maxFailures: number;
  readonly signal?: AbortSignal;
}

/** Yields a stream's messages; throws its error. Cancels the call when the consumer stops. */
async function* messages<W>(call: ClientReadableStream<W>, signal: AbortSignal): AsyncGenerator<W> {
  const cancel = () => call.cancel();
  signal.addEventListener('abort', cancel, { once: true });
  try {
    for await (const m of call) yield m as W;
  } finally {
    signal.removeEventListener('abort', cancel);
    call.cancel();
  }
}

/**
 * Subscribes on an endpoint (the leader first) and yields mapped messages. A stream that ends
 * or fails with UNAVAILABLE is re-opened on another endpoint when resubscribe() allows it, up
 * to maxFailures times in a row (any message resets the count). Ends quietly on abort.
 */
export async function* subscribe<S extends ServiceName, M extends MethodName<S>, T>(
  connection: ClusterConnection,
  o: SubscribeOptions<S, M, T>,
): AsyncGenerator<T> {
  const signal = AbortSignal.any([connection.closedSignal, ...(o.signal ? [o.signal] : [])]);
  let avoid: string | undefined;
  let failures = 0;
  while (!signal.aborted) {
    const { call, address } = connection.serverStream(o.service, o.method, o.request, avoid);
    let err: unknown;
    try {
      for await (const m of messages(call, signal)) {
        failures = 0;
        yield o.map(m);
      }
    } catch (e) {
      err = e;
    }
    if (signal.aborted) return;
    // ABORTED: the node caught up by snapshot and skipped changes; it serves again at once.
    const compacted = isServiceError(err) && err.code === status.ABORTED;
    // A stream the server completed counts as broken too: ours never end on their own.
    if (
      err !== undefined &&
      !compacted &&
      !(isServiceError(err) && err.code === status.UNAVAILABLE)
    )
      throw fromGrpcError(err);
    const broken = new UnavailableError(
      `${o.service}.${o.method} stream on ${address} ended: ${
        err instanceof Error ? err.message : 'closed by the server'
      }`,
      { cause: err },
    );
    if (!compacted) {
      connection.markFailed(address);
      avoid = address;
    }
    if (++failures > o.maxFailures || !o.resubscribe(broken)) throw broken;
    const ceiling = Math.min(1000, 50 * 2 ** failures);
    try {
      await sleep(ceiling / 2 + Math.random() * (ceiling / 2), signal);
    } catch {
      return;
    }
  }
}
