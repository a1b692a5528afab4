// How long a process's main thread was ready to run but had no CPU, from Linux's per-thread
// scheduler statistics (/proc/<pid>/task/<pid>/schedstat: time on a CPU, time waiting on a
// run queue, in ns). For a Node server that thread is the event loop: waiting for a CPU stalls
// it exactly as a long task would, and the event-loop lag it reports cannot tell the two apart.
// The bench runs three members and the load generator on one machine; this says how much of a
// member's lag was the machine's.
import { readFileSync } from 'node:fs';

/** The main thread's run-queue wait so far, ms; undefined where unreadable (not Linux, gone). */
export function runQueueWaitMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ');
    const ns = Number(fields[1]);
    return Number.isFinite(ns) ? ns / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The most run-queue wait within any `windowMs` (by default the longest election timeout, 300
 * ms): a member whose event loop waited that long for a CPU inside one election timeout can
 * lose its leadership whatever its own code does. Fed one reading at a time.
 */
export class CpuWaitWindow {
  private readonly readings: [at: number, waitMs: number][] = [];
  private head = 0;
  worstMs = 0;
  private first: number | undefined;
  private latest = 0;

  constructor(private readonly windowMs = 300) {}

  /** A reading of runQueueWaitMs taken at `at` (ms, monotonic). */
  add(at: number, waitMs: number): void {
    this.first ??= waitMs;
    this.latest = waitMs;
    this.readings.push([at, waitMs]);
    while (at - this.readings[this.head]![0] > this.windowMs) this.head++;
    this.worstMs = Math.max(this.worstMs, waitMs - this.readings[this.head]![1]);
    // Drop what no window can reach again, now and then rather than at every reading.
    if (this.head > 1024) {
      this.readings.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Run-queue wait between the first reading and the latest, ms. */
  get totalMs(): number {
    return this.first === undefined ? 0 : this.latest - this.first;
  }
}
