// Turns a grpc-js call into the LockApi's CallContext, and AsyncIterables into the Observables
// Nest writes to server streams.
import type { Deadline, Metadata } from '@grpc/grpc-js';
import { defer, finalize, Observable } from 'rxjs';
import type { CallContext } from '../domain/api.js';
import { ignoreRejection } from '../../../../libs/common/src/ignore.js';

/** The part of every grpc-js server call this layer uses. */
export interface GrpcCall {
  readonly cancelled: boolean;
  readonly metadata: Metadata;
  getDeadline(): Deadline;
  on(event: 'cancelled' | 'drain', listener: () => void): unknown;
  off(event: 'cancelled' | 'drain', listener: () => void): unknown;
  readonly writableNeedDrain?: boolean;
}

/** The domain measures time on the monotonic clock, immune to wall-clock steps. */
export function monotonicDeadline(deadline: Deadline): number | undefined {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(at)) return undefined;
  return performance.now() + (at - Date.now());
}

/** What a call's context holds besides its deadline and cancellation. */
export type CallFacts = Omit<CallContext, 'deadline' | 'signal'>;

/**
 * The context lives only as long as the handler: grpc-js emits "cancelled" for client
 * cancellation and an expired deadline, but also whenever a call's HTTP/2 stream closes, even
 * after a normal status, and that must not abort anything. Nothing here comes from the call's
 * metadata: a client could write anything there (forwarding marks are for the peer plane).
 */
function openContext(call: GrpcCall, facts: CallFacts): { ctx: CallContext; release: () => void } {
  // The signal is made when first read: most calls never wait, and an AbortController per call
  // was about 1% of a busy leader's CPU.
  let controller: AbortController | undefined;
  let cancelled = false;
  function release() {
    call.off('cancelled', onCancel);
  }
  function onCancel() {
    release();
    cancelled = true;
    controller?.abort(new Error('call cancelled'));
  }
  if (call.cancelled) onCancel();
  else call.on('cancelled', onCancel);
  const ctx: CallContext = {
    deadline: monotonicDeadline(call.getDeadline()),
    forwarded: false,
    ...facts,
    get signal(): AbortSignal {
      if (controller === undefined) {
        controller = new AbortController();
        if (cancelled) controller.abort(new Error('call cancelled'));
      }
      return controller.signal;
    },
  };
  return { ctx, release };
}

/** Runs a unary handler with the call's context (facts: what the peer plane vouches for). */
export function withContext<T>(
  call: GrpcCall,
  handler: (ctx: CallContext) => Promise<T>,
  facts: CallFacts = {},
): Promise<T> {
  const { ctx, release } = openContext(call, facts);
  return Promise.resolve()
    .then(() => handler(ctx))
    .finally(release);
}

/** Runs a streaming handler with the call's context, from subscription until the stream ends. */
export function streamWithContext<T>(
  call: GrpcCall,
  handler: (ctx: CallContext) => Observable<T>,
): Observable<T> {
  return defer(() => {
    const { ctx, release } = openContext(call, {});
    return handler(ctx).pipe(finalize(release));
  });
}

function drainedOrCancelled(call: GrpcCall): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
  });
}

/**
 * Pulls the next item only once grpc-js has room for it, so a slow client slows its own stream
 * down to the LockApi (which bounds what it keeps per watcher) instead of growing Nest's buffer.
 * Unsubscribing (the client went away) returns the iterator so the producer can let go.
 */
export function streamFrom<T>(source: AsyncIterable<T>, call: GrpcCall): Observable<T> {
  return new Observable<T>((subscriber) => {
    const iterator = source[Symbol.asyncIterator]();
    let finished = false;
    const pump = async () => {
      try {
        for (;;) {
          const next = await iterator.next();
          if (next.done || subscriber.closed) break;
          subscriber.next(next.value);
          if (call.writableNeedDrain && !call.cancelled) await drainedOrCancelled(call);
        }
        finished = true;
        subscriber.complete();
      } catch (err) {
        finished = true;
        subscriber.error(err);
      }
    };
    void pump();
    return () => {
      if (finished) return;
      finished = true;
      const returned = iterator.return?.();
      if (returned) void ignoreRejection(returned, 'the client has gone: nobody reads the stream');
    };
  });
}
