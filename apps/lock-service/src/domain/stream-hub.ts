import type * as api from './api.js';
import { LockMode } from './api.js';
import { AsyncQueue, StreamBudget } from './async-queue.js';
import { compacted, exhausted } from './errors.js';
import type { SmEvent } from './events.js';

/** Events a Watch or Observe consumer may fall behind before its stream ends. */
const STREAM_BUFFER = 10_000;

type Leader = { candidate: string; value: string; token: number } | null;

/** A buffered message's bytes, near enough: its strings plus a fixed overhead. */
function sizeOf(m: unknown): number {
  let n = 64;
  for (const v of Object.values(m as Record<string, unknown>))
    if (typeof v === 'string') n += 2 * v.length;
  return n;
}

const toLeaderResponse = (h: Leader): api.LeaderResponse =>
  h
    ? { has_leader: true, candidate: h.candidate, value: h.value, fencing_token: h.token }
    : { has_leader: false, candidate: '', value: '', fencing_token: 0 };

/**
 * The node's open streams: Watch and Observe, fed from applied events in log order, and the
 * slots KeepAlive streams take. All count against one limit (--max-streams).
 */
export class StreamHub {
  /** Open streams and the handler that feeds each; KeepAlive slots have no handler. */
  private readonly streams = new Map<{ fail(e: Error): void }, ((e: SmEvent) => void) | null>();
  private readonly budget: StreamBudget;

  constructor(
    private readonly maxStreams: number,
    maxBufferBytes = 64 * 1024 * 1024,
  ) {
    this.budget = new StreamBudget(maxBufferBytes);
  }

  /** Bytes buffered for consumers that have not read them yet, on every stream. */
  get bufferedBytes(): number {
    return this.budget.used;
  }

  get open(): number {
    return this.streams.size;
  }

  onEvent(e: SmEvent): void {
    for (const feed of this.streams.values()) feed?.(e);
    // A snapshot replaced the state: the changes it covers were never applied here, so streams
    // fed by applied changes cannot continue without a gap. They end with a status of their own,
    // on which clients re-read and subscribe again.
    if (e.type === 'restored') this.endAll(compacted());
  }

  /** Ends every Watch and Observe stream with e (KeepAlive streams end by themselves). */
  endAll(e: Error): void {
    for (const [q, feed] of [...this.streams]) if (feed) q.fail(e);
  }

  watch(prefix: string): AsyncIterable<api.LockEvent> {
    return this.open_<api.LockEvent>((e, q) => {
      if (e.type === 'lock' && e.name.startsWith(prefix)) {
        q.push({
          name: e.name,
          type: e.event,
          owner: e.owner,
          fencing_token: e.token,
          mode: e.shared ? LockMode.LOCK_MODE_SHARED : LockMode.LOCK_MODE_EXCLUSIVE,
        });
      }
    });
  }

  /**
   * The election's leader now, then every change, both in log order: an older leader never
   * follows a newer one. `ready` (called once the stream has its slot) settles once this node's
   * state holds every write acknowledged before the call; `current` reads the state then. Reading the state
   * and starting the changes is one synchronous step, so nothing is missed or sent twice.
   */
  observe(
    name: string,
    ready: () => Promise<void>,
    current: () => api.LeaderResponse,
  ): AsyncIterable<api.LeaderResponse> {
    let started = false;
    const q = this.open_<api.LeaderResponse>((e, q) => {
      if (started && e.type === 'election' && e.name === name) q.push(toLeaderResponse(e.leader));
    });
    ready().then(
      () => {
        started = true;
        q.push(current());
      },
      (e: Error) => q.fail(e),
    );
    return q;
  }

  /** Takes a stream slot for a KeepAlive stream; returns the function that gives it back. */
  openKeepAlive(): () => void {
    this.checkRoom();
    const slot = { fail: () => undefined };
    this.streams.set(slot, null);
    return () => this.streams.delete(slot);
  }

  private open_<T>(feed: (e: SmEvent, q: AsyncQueue<T>) => void): AsyncQueue<T> {
    this.checkRoom();
    const q: AsyncQueue<T> = new AsyncQueue<T>(
      STREAM_BUFFER,
      () => this.streams.delete(q),
      this.budget,
      sizeOf,
    );
    this.streams.set(q, (e) => feed(e, q));
    return q;
  }

  private checkRoom(): void {
    if (this.streams.size >= this.maxStreams) throw exhausted('too many open streams on this node');
  }
}

export { toLeaderResponse };
