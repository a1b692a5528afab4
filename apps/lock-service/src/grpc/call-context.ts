// Turns a grpc-js call into the LockApi's CallContext, and AsyncIterables into the Observables
// Nest writes to server streams.
import type { Deadline, Metadata } from '@grpc/grpc-js';
import { defer, finalize, Observable } from 'rxjs';
import type { CallContext } from '../domain/api.js';
import { FORWARDED_HEADER, parseForwardedBy, PRINCIPAL_HEADER } from './grpc-forwarder.js';
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

/**
 * The context lives only as long as the handler: grpc-js emits "cancelled" for client
 * cancellation and an expired deadline, but also whenever a call's HTTP/2 stream closes, even
 * after a normal status, and that must not abort anything.
 */
function openContext(call: GrpcCall): { ctx: CallContext; release: () => void } {
  const controller = new AbortController();
  function release() {
    call.off('cancelled', onCancel);
  }
  function onCancel() {
    release();
    controller.abort(new Error('call cancelled'));
  }
  if (call.cancelled) onCancel();
  else call.on('cancelled', onCancel);
  const forwarded = call.metadata.get(FORWARDED_HEADER);
  const by = typeof forwarded[0] === 'string' ? parseForwardedBy(forwarded[0]) : undefined;
  const principal = forwarded.length > 0 ? forwardedPrincipal(call.metadata) : undefined;
  const ctx: CallContext = {
    deadline: monotonicDeadline(call.getDeadline()),
    signal: controller.signal,
    forwarded: forwarded.length > 0,
    ...(by ? { forwardedBy: by } : {}),
    ...(principal === undefined ? {} : { principal }),
  };
  return { ctx, release };
}

/**
 * The identity the forwarding member authenticated, believed as the forwarding mark itself is:
 * whoever may mark a call forwarded may name its caller, so only members must be able to.
 */
function forwardedPrincipal(md: Metadata): string | undefined {
  const [value] = md.get(PRINCIPAL_HEADER);
  try {
    return typeof value === 'string' ? decodeURIComponent(value) : undefined;
  } catch {
    return undefined; // not what a member sends: the call goes on as nobody's
  }
}

/** Runs a unary handler with the call's context. */
export function withContext<T>(
  call: GrpcCall,
  handler: (ctx: CallContext) => Promise<T>,
): Promise<T> {
  const { ctx, release } = openContext(call);
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
    const { ctx, release } = openContext(call);
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
