import { Code, DomainError } from './errors.js';

/**
 * The bytes every stream of a node may hold for consumers that have not read them yet. Past
 * it, the stream holding the most is ended with RESOURCE_EXHAUSTED: one slow consumer cannot
 * make a node hold gigabytes, and fast ones are not cut for it.
 */
export class StreamBudget {
  used = 0;
  private readonly queues = new Set<AsyncQueue<unknown>>();

  constructor(readonly maxBytes: number) {}

  join(q: AsyncQueue<unknown>): void {
    this.queues.add(q);
  }

  leave(q: AsyncQueue<unknown>): void {
    this.queues.delete(q);
  }

  /** Called after a push: while over budget, cuts off the stream that holds the most. */
  enforce(): void {
    while (this.used > this.maxBytes) {
      let worst: AsyncQueue<unknown> | undefined;
      for (const q of this.queues) if (!worst || q.bytes > worst.bytes) worst = q;
      if (!worst || worst.bytes === 0) return;
      worst.fail(
        new DomainError(
          Code.RESOURCE_EXHAUSTED,
          `stream consumer too slow: this node's stream buffers are full (${this.maxBytes} bytes)`,
        ),
        true,
      );
    }
  }
}

/**
 * A bounded queue read as an async iterable: the producer pushes, one consumer iterates. A
 * consumer that falls more than `max` items behind, or holds the most of a full budget, is
 * ended with RESOURCE_EXHAUSTED instead of letting the buffer grow.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private sizes: number[] = [];
  /** Bytes buffered (estimated by sizeOf), counted in the budget. */
  bytes = 0;
  private waiting: ((r: IteratorResult<T>) => void) | null = null;
  private failWaiting: ((e: Error) => void) | null = null;
  private error: Error | null = null;
  private done = false;

  constructor(
    private readonly max: number,
    private readonly onClose: () => void,
    private readonly budget?: StreamBudget,
    private readonly sizeOf: (item: T) => number = () => 64,
  ) {
    budget?.join(this as AsyncQueue<unknown>);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.done || this.error) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = this.failWaiting = null;
      w({ value: item, done: false });
      return;
    }
    if (this.length >= this.max) {
      this.fail(
        new DomainError(
          Code.RESOURCE_EXHAUSTED,
          `stream consumer is more than ${this.max} events behind`,
        ),
      );
      return;
    }
    const size = this.sizeOf(item);
    this.items.push(item);
    this.sizes.push(size);
    this.bytes += size;
    if (this.budget) {
      this.budget.used += size;
      this.budget.enforce();
    }
  }

  private shift(): T {
    const item = this.items[this.head]!;
    const size = this.sizes[this.head]!;
    this.head++;
    this.bytes -= size;
    if (this.budget) this.budget.used -= size;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  private drop(): void {
    if (this.budget) {
      this.budget.used -= this.bytes;
      this.budget.leave(this as AsyncQueue<unknown>);
    }
    this.bytes = 0;
    this.items = [];
    this.sizes = [];
    this.head = 0;
  }

  /**
   * Ends the stream with an error, once the consumer has read what is buffered; or at once,
   * dropping the buffer (a consumer cut off for holding too much).
   */
  fail(e: Error, dropBuffered = false): void {
    if (this.done || this.error) return;
    this.error = e;
    if (dropBuffered) this.drop();
    this.onClose();
    if (this.failWaiting && this.length === 0) {
      const f = this.failWaiting;
      this.waiting = this.failWaiting = null;
      f(e);
    }
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.drop();
    this.onClose();
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = this.failWaiting = null;
      w({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.length > 0) return Promise.resolve({ value: this.shift(), done: false });
        if (this.error) {
          this.drop();
          return Promise.reject(this.error);
        }
        if (this.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiting = resolve;
          this.failWaiting = reject;
        });
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
