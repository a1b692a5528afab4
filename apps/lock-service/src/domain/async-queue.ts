import { DomainError } from './errors.js';

/**
 * A bounded queue read as an async iterable: the producer pushes, one consumer iterates. A
 * consumer that falls more than `max` items behind is ended with an error instead of letting
 * the buffer grow.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | null = null;
  private failWaiting: ((e: Error) => void) | null = null;
  private error: Error | null = null;
  private done = false;

  constructor(
    private readonly max: number,
    private readonly onClose: () => void,
  ) {}

  push(item: T): void {
    if (this.done || this.error) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = this.failWaiting = null;
      w({ value: item, done: false });
      return;
    }
    if (this.items.length >= this.max) {
      this.fail(new DomainError(8, `stream consumer is more than ${this.max} events behind`));
      return;
    }
    this.items.push(item);
  }

  /** Ends the stream with an error once the buffered items are consumed. */
  fail(e: Error): void {
    if (this.done || this.error) return;
    this.error = e;
    this.onClose();
    if (this.failWaiting && this.items.length === 0) {
      const f = this.failWaiting;
      this.waiting = this.failWaiting = null;
      f(e);
    }
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.items = [];
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
        if (this.items.length > 0)
          return Promise.resolve({ value: this.items.shift()!, done: false });
        if (this.error) return Promise.reject(this.error);
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
