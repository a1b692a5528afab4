import type { ApplyResult } from './commands.js';

/** Retried requests are recognised for at least this long, measured on the lease clock. */
export const DEDUP_WINDOW_MS = 90_000;
/** Records kept at most; beyond it the oldest go first, whatever their age. */
export const MAX_DEDUP = 1_000_000;

/**
 * request_id -> the result it got, so that a retry returns the same grant. Part of the
 * replicated state: ages are lease-clock stamps from the log, never a leader's wall clock, so
 * that a clock jumping ahead cannot purge records early.
 */
export class RetryTable {
  /** Insertion order is age order: re-recording moves a request to the end. */
  private records = new Map<string, { t: number; r: ApplyResult }>();

  get size(): number {
    return this.records.size;
  }

  get(requestId: string): ApplyResult | undefined {
    return this.records.get(requestId)?.r;
  }

  record(requestId: string, r: ApplyResult, clock: number): void {
    this.records.delete(requestId);
    this.records.set(requestId, { t: clock, r });
    if (this.records.size > MAX_DEDUP) this.records.delete(this.records.keys().next().value!);
  }

  /** Forgets records older than the window at the given lease-clock time. */
  purge(clock: number): void {
    for (const [id, d] of this.records) {
      if (d.t >= clock - DEDUP_WINDOW_MS) break;
      this.records.delete(id);
    }
  }

  entries(): [string, { t: number; r: ApplyResult }][] {
    return [...this.records];
  }

  static from(entries: [string, { t: number; r: ApplyResult }][]): RetryTable {
    const t = new RetryTable();
    t.records = new Map(entries);
    return t;
  }
}
