// Snapshot bytes as streams of chunks. A snapshot is taken, stored, sent, received and restored
// a chunk at a time, so that its size costs disk and time, never one buffer of that size.
import type { SnapshotData } from './types.js';

/** The chunk size of storages and transports unless told otherwise. */
export const SNAPSHOT_CHUNK_BYTES = 1 << 20;

/** Splits bytes into views of at most `size` bytes (no copies); nothing for empty bytes. */
export function* chunksOf(bytes: Uint8Array, size = SNAPSHOT_CHUNK_BYTES): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/** SnapshotData over bytes in memory, for tests and for states known to be small. */
export function snapshotDataOf(bytes: Uint8Array, size = SNAPSHOT_CHUNK_BYTES): SnapshotData {
  return {
    bytes: bytes.length,
    chunks: async function* () {
      yield* chunksOf(bytes, size);
    },
  };
}

/**
 * Reads a whole stream into one buffer: for tests, and for state machines whose snapshot is
 * small. Throws once more than maxBytes arrived.
 */
export async function readAll(
  chunks: AsyncIterable<Uint8Array>,
  maxBytes = Number.MAX_SAFE_INTEGER,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of chunks) {
    total += chunk.length;
    if (total > maxBytes) throw new Error(`snapshot larger than ${maxBytes} bytes`);
    parts.push(chunk);
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Re-cuts a stream into chunks of exactly `size` bytes (the last one shorter; none for an empty
 * stream). Holds at most one chunk: input chunks of the right size pass through uncopied, larger
 * ones are cut into views, smaller ones are gathered into a fresh buffer.
 */
export async function* rechunk(
  source: AsyncIterable<Uint8Array>,
  size: number,
): AsyncGenerator<Uint8Array> {
  if (!(size > 0)) throw new RangeError(`chunk size must be positive, got ${size}`);
  let pending: Uint8Array | null = null;
  let filled = 0;
  for await (const input of source) {
    let at = 0;
    while (at < input.length) {
      if (filled === 0 && input.length - at >= size) {
        yield input.subarray(at, at + size);
        at += size;
        continue;
      }
      pending ??= new Uint8Array(size);
      const n = Math.min(size - filled, input.length - at);
      pending.set(input.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === size) {
        const full: Uint8Array = pending;
        pending = null;
        filled = 0;
        yield full;
      }
    }
  }
  if (pending !== null && filled > 0) yield pending.subarray(0, filled);
}

/**
 * A stream fed by a producer that cannot be paused mid-call (a network receiver), read by one
 * consumer (a storage writing the chunks). push() says when to pause: once `highWaterBytes` are
 * waiting; onDrain runs when the consumer has taken enough to resume. So what waits here stays
 * near highWaterBytes, however large the stream.
 */
export class ChunkQueue implements AsyncIterable<Uint8Array> {
  private items: Uint8Array[] = [];
  private waiting = 0;
  private ended = false;
  private error: Error | null = null;
  private wake: (() => void) | null = null;
  private abandoned = false;
  private iterated = false;
  /** The most bytes that were ever waiting at once: what this queue cost in memory. */
  maxWaitingBytes = 0;
  /** Runs when a paused producer may push again. */
  onDrain: (() => void) | undefined;

  constructor(private readonly highWaterBytes: number) {}

  /** Bytes pushed and not yet taken. */
  get waitingBytes(): number {
    return this.waiting;
  }

  /** Adds a chunk; false asks the producer to pause until onDrain. Ignored after end or fail. */
  push(chunk: Uint8Array): boolean {
    if (this.ended || this.error !== null || this.abandoned) return true;
    this.items.push(chunk);
    this.waiting += chunk.length;
    if (this.waiting > this.maxWaitingBytes) this.maxWaitingBytes = this.waiting;
    this.notify();
    return this.waiting < this.highWaterBytes;
  }

  /** The stream is complete. */
  end(): void {
    this.ended = true;
    this.notify();
  }

  /** The stream broke: the consumer's next read throws err. */
  fail(err: Error): void {
    if (this.ended || this.error !== null) return;
    this.error = err;
    this.items = [];
    this.waiting = 0;
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    if (this.iterated) throw new Error('a ChunkQueue has a single reader');
    this.iterated = true;
    try {
      for (;;) {
        if (this.error !== null) throw this.error;
        const item = this.items.shift();
        if (item !== undefined) {
          const wasPaused = this.waiting >= this.highWaterBytes;
          this.waiting -= item.length;
          if (wasPaused && this.waiting < this.highWaterBytes) this.onDrain?.();
          yield item;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      // The reader stopped (done, failed, or gave up): later pushes are dropped.
      this.abandoned = true;
      this.items = [];
      this.waiting = 0;
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
