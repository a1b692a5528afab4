// The outbound half of a peer connection: one long-lived Send stream carrying pre-encoded
// messages in order, a bounded queue in front of it, and re-opening with backoff after failure.
import * as grpc from '@grpc/grpc-js';
import type { NodeId } from '../types.js';

export interface PeerLinkOptions {
  readonly peer: NodeId;
  readonly client: grpc.Client;
  readonly sendPath: string;
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
  /** How long a new stream may wait for the peer's headers before it counts as failed. */
  readonly openTimeoutMs: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  /**
   * Called when a stream ends, which may have lost messages. `wasConnected` tells a lost link
   * from another failed attempt to reach a peer that is still down.
   */
  readonly onFailure: (peer: NodeId, err: Error | null, wasConnected: boolean) => void;
  /** Metadata of each stream opened (the cluster id); none by default. */
  readonly metadata?: () => grpc.Metadata;
}

const EMPTY = Buffer.alloc(0);
const ACK = {};
const passThrough = (b: Buffer): Buffer => b;
// Must not return null: grpc-js takes a null response for a missing one and fails the call.
const ignoreAck = (): object => ACK;

export class PeerLink {
  private queue: Buffer[] = [];
  private head = 0;
  private queuedBytes = 0;
  private call: grpc.ClientWritableStream<Buffer> | null = null;
  /**
   * Writes wait until the peer has sent its headers: until then the call may be doomed (peer
   * down), and anything handed to it would be lost rather than kept for the next stream.
   */
  private ready = false;
  private blocked = false;
  /** Identifies the current stream so callbacks of an abandoned one are ignored. */
  private generation = 0;
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private openTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private droppedCount = 0;

  constructor(private readonly opts: PeerLinkOptions) {}

  get queued(): number {
    return this.queue.length - this.head;
  }

  get dropped(): number {
    return this.droppedCount;
  }

  get connected(): boolean {
    return this.ready;
  }

  /** Returns false when the message was dropped because the queue is full or the link closed. */
  enqueue(buf: Buffer): boolean {
    if (this.closed) return false;
    const call = this.call;
    if (call !== null && this.ready && !this.blocked && this.head === this.queue.length) {
      // Fast path: nothing waiting, so order is kept by writing straight to the stream.
      if (!call.write(buf)) this.blocked = true;
      return true;
    }
    if (
      this.queue.length - this.head >= this.opts.maxQueuedMessages ||
      this.queuedBytes + buf.length > this.opts.maxQueuedBytes
    ) {
      this.droppedCount++;
      return false;
    }
    this.queue.push(buf);
    this.queuedBytes += buf.length;
    if (this.call === null && this.retryTimer === null) this.open();
    return true;
  }

  /** Opens the stream now if none is open or waiting to retry, even with nothing to send. */
  connect(): void {
    if (!this.closed && this.call === null && this.retryTimer === null) this.open();
  }

  close(): void {
    this.closed = true;
    this.generation++;
    this.clearTimers();
    const call = this.call;
    this.call = null;
    this.ready = false;
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    call?.cancel();
  }

  private open(): void {
    const gen = ++this.generation;
    let call: grpc.ClientWritableStream<Buffer>;
    try {
      call = this.opts.client.makeClientStreamRequest<Buffer, object>(
        this.opts.sendPath,
        passThrough,
        ignoreAck,
        this.opts.metadata?.() ?? new grpc.Metadata(),
        (err) => this.onStreamEnd(gen, err),
      );
    } catch (err) {
      // Opening may run from a timer, where a throw would take the whole process down.
      this.opts.onFailure(this.opts.peer, err as Error, false);
      this.scheduleRetry();
      return;
    }
    this.call = call;
    this.ready = false;
    this.blocked = false;
    call.on('metadata', () => {
      if (gen !== this.generation) return;
      this.clearOpenTimer();
      this.ready = true;
      this.attempts = 0;
      this.flush();
    });
    call.on('drain', () => {
      if (gen !== this.generation) return;
      this.blocked = false;
      this.flush();
    });
    this.openTimer = setTimeout(() => {
      this.openTimer = null;
      if (gen === this.generation && !this.ready) call.cancel();
    }, this.opts.openTimeoutMs);
    this.openTimer.unref();
  }

  private flush(): void {
    const call = this.call;
    if (call === null) return;
    while (this.head < this.queue.length && !this.blocked) {
      const buf = this.queue[this.head]!; // head < length, checked above
      // Release the reference at once: a long backlog must not pin already-sent buffers.
      this.queue[this.head++] = EMPTY;
      this.queuedBytes -= buf.length;
      if (!call.write(buf)) this.blocked = true;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private onStreamEnd(gen: number, err: grpc.ServiceError | null): void {
    if (gen !== this.generation || this.closed) return;
    const wasConnected = this.ready;
    // Even a clean end (peer shutting down) loses whatever was in flight on the stream.
    this.call = null;
    this.ready = false;
    this.blocked = false;
    this.clearOpenTimer();
    this.opts.onFailure(this.opts.peer, err, wasConnected);
    this.scheduleRetry();
  }

  /**
   * The peer just opened a stream to us, so it is up: instead of waiting out the backoff
   * (up to maxBackoffMs after a restart), reconnect now.
   */
  peerIsUp(): void {
    if (this.closed) return;
    // An attempt in flight may still fail (the channel had not reconnected yet): its retry then
    // comes after the first, short backoff.
    this.attempts = 0;
    if (this.retryTimer === null) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.head < this.queue.length) this.open();
  }

  private scheduleRetry(): void {
    // Exponential backoff with jitter, so peers restarting together do not reconnect in lockstep.
    const ceiling = Math.min(
      this.opts.maxBackoffMs,
      this.opts.initialBackoffMs * 2 ** this.attempts,
    );
    this.attempts = Math.min(this.attempts + 1, 30);
    const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      // With nothing to send, stay idle: the next enqueue opens the stream.
      if (!this.closed && this.head < this.queue.length) this.open();
    }, delay);
    this.retryTimer.unref();
  }

  private clearOpenTimer(): void {
    if (this.openTimer !== null) {
      clearTimeout(this.openTimer);
      this.openTimer = null;
    }
  }

  private clearTimers(): void {
    this.clearOpenTimer();
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }
}
