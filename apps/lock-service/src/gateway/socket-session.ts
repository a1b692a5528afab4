// One WebSocket: its outgoing messages, bounded, and its subscriptions. A reader that lets more
// than the bound pile up unsent is cut off with a close code and reason instead of growing this
// node's memory; closing the socket ends every subscription and aborts every call in flight.
import type { JsonValue } from '@bufbuild/protobuf';
import { ignoreRejection } from '../../../../libs/common/src/ignore.js';

/** The part of a `ws` WebSocket a session uses. */
export interface Outbox {
  send(text: string): void;
  /** Bytes queued to send and not yet written to the network. */
  readonly bufferedAmount: number;
  close(code: number, reason: string): void;
}

export interface SessionLimits {
  /** Unsent bytes at which the reader is cut off. */
  readonly maxBufferedBytes: number;
  /** Subscriptions open at once on one socket. */
  readonly maxSubscriptions: number;
}

/** RFC 6455 1013 "Try Again Later": the client may reconnect, and should read faster. */
export const SLOW_READER_CLOSE = 1013;

interface Subscription {
  readonly stop: AbortController;
  readonly iterator: AsyncIterator<unknown>;
}

/** What a subscription's stream ended with, as a JSON-RPC error object. */
export type ErrorObject = { code: number; message: string; data?: JsonValue };

export class SocketSession {
  private readonly calls = new AbortController();
  private readonly subs = new Map<string, Subscription>();
  private next = 1;
  private closed = false;

  constructor(
    private readonly outbox: Outbox,
    private readonly limits: SessionLimits,
  ) {}

  /** Aborted when the socket goes: calls in flight on it let go. */
  get signal(): AbortSignal {
    return this.calls.signal;
  }

  get subscriptions(): number {
    return this.subs.size;
  }

  get hasRoom(): boolean {
    return this.subs.size < this.limits.maxSubscriptions;
  }

  /** Queues one message; false once the socket is closed or its reader was cut off. */
  send(message: unknown): boolean {
    return this.sendText(JSON.stringify(message));
  }

  sendText(text: string): boolean {
    if (this.closed) return false;
    if (this.outbox.bufferedAmount > this.limits.maxBufferedBytes) {
      this.outbox.close(
        SLOW_READER_CLOSE,
        `slow reader: more than ${this.limits.maxBufferedBytes} bytes unsent`,
      );
      this.close();
      return false;
    }
    this.outbox.send(text);
    return true;
  }

  /**
   * Sends each item of `source` as a `method` notification carrying the subscription id, until
   * the source ends, fails (a last notification carries the error), or is unsubscribed.
   * `open` gets the subscription's own signal, aborted when it ends.
   */
  subscribe(
    method: string,
    open: (signal: AbortSignal) => AsyncIterable<JsonValue>,
    toError: (e: unknown) => ErrorObject,
  ): string {
    const id = String(this.next++);
    const stop = new AbortController();
    const iterator = open(stop.signal)[Symbol.asyncIterator]();
    this.subs.set(id, { stop, iterator });
    const notify = (params: Record<string, JsonValue>) =>
      this.send({ jsonrpc: '2.0', method, params: { subscription: id, ...params } });
    void (async () => {
      try {
        for (;;) {
          const n = await iterator.next();
          if (n.done || !this.subs.has(id) || !notify({ result: n.value })) break;
          // Past half the bound, let the socket write before the next item: a burst of events
          // must not cut off a reader that keeps up, only one that does not read.
          if (this.outbox.bufferedAmount > this.limits.maxBufferedBytes / 2)
            await new Promise((resolve) => setImmediate(resolve));
        }
      } catch (e) {
        if (this.subs.has(id)) notify({ error: toError(e) });
      } finally {
        this.end(id);
      }
    })();
    return id;
  }

  /** Ends a subscription; false when there is none of that id (anymore). */
  unsubscribe(id: string): boolean {
    return this.end(id);
  }

  /** The socket closed: every subscription ends and every call in flight is aborted. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.calls.abort(new Error('the WebSocket closed'));
    for (const id of [...this.subs.keys()]) this.end(id);
  }

  private end(id: string): boolean {
    const s = this.subs.get(id);
    if (!s) return false;
    this.subs.delete(id);
    s.stop.abort(new Error('unsubscribed'));
    const returned = s.iterator.return?.();
    if (returned) void ignoreRejection(returned, 'the subscription has ended: nobody reads it');
    return true;
  }
}
