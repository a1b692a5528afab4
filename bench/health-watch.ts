// While a lease phase runs: how each member fared, polled from its /metrics every second. The
// figures a million-lease goal is stated in: the longest event-loop stall per member and the
// leader changes the cluster went through.
import { ignoreRejection } from '../libs/common/src/ignore.js';
import type { BenchCluster } from './adapters/types.js';
import { CpuWaitWindow, runQueueWaitMs } from './cpu-wait.js';

export interface Health {
  /** Longest event-loop stall per member (in member order), ms; NaN where not exported. */
  lagMaxMs: number[];
  /** Leader changes seen by the member that saw the most (a restarted member's first excluded). */
  leaderChanges: number;
  /**
   * Per member, for a single-threaded server: the most its main thread waited for a CPU within
   * any 300 ms, ms, and in all, s (cpu-wait.ts). Undefined where not measured.
   */
  cpuWait?: { worstMs: number; totalS: number }[];
}

export class HealthWatch {
  private readonly lag = new Map<string, number>();
  private readonly changes = new Map<string, number>();
  /**
   * The counter each member last reported, or undefined until it knows a leader after a
   * (re)start: finding its first leader is not a change.
   */
  private readonly last = new Map<string, number | undefined>();
  /** Members read since their (re)start: the first read's lag is the start-up's, not counted. */
  private readonly read = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private polling: Promise<void> | undefined;
  /** Per member and process: a restarted member's new process starts a new window. */
  private readonly waits = new Map<string, { pid: number; windows: CpuWaitWindow[] }>();
  private readonly waitTimer: NodeJS.Timeout | undefined;

  /** mainThreadWait: the server runs its work on one thread (an event loop), so it is measured. */
  constructor(
    private readonly c: BenchCluster,
    mainThreadWait = false,
  ) {
    this.timer = setInterval(() => void this.poll(), 1000);
    if (mainThreadWait) this.waitTimer = setInterval(() => this.sampleWaits(), 20);
  }

  /** A member about to be killed or restarted: its next counter starts a new baseline. */
  restarting(id: string): void {
    this.last.set(id, undefined);
    this.read.delete(id);
  }

  private sampleWaits(): void {
    const at = performance.now();
    for (const id of this.c.ids) {
      const pid = this.c.isUp(id) ? this.c.pid(id) : undefined;
      if (pid === undefined) continue;
      const ms = runQueueWaitMs(pid);
      if (ms === undefined) continue;
      let w = this.waits.get(id);
      if (w === undefined) this.waits.set(id, (w = { pid, windows: [] }));
      if (w.pid !== pid || w.windows.length === 0) {
        w.pid = pid;
        w.windows.push(new CpuWaitWindow());
      }
      w.windows.at(-1)!.add(at, ms);
    }
  }

  private poll(): Promise<void> {
    this.polling ??= Promise.all(
      this.c.ids.filter((id) => this.c.isUp(id)).map((id) => this.pollOne(id)),
    ).then(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async pollOne(id: string): Promise<void> {
    const h = await ignoreRejection(
      this.c.health(id),
      'a member too busy to answer within 2 s is read at the next poll',
    );
    if (!h) return;
    if (this.read.has(id)) this.lag.set(id, Math.max(this.lag.get(id) ?? 0, h.lagMaxMs));
    this.read.add(id);
    const before = this.last.get(id);
    if (before === undefined && !h.hasLeader) return;
    if (before !== undefined && h.leaderChanges >= before) {
      this.changes.set(id, (this.changes.get(id) ?? 0) + h.leaderChanges - before);
    }
    this.last.set(id, h.leaderChanges);
  }

  /** Stops polling after one last read, and reports. */
  async stop(): Promise<Health> {
    clearInterval(this.timer);
    clearInterval(this.waitTimer);
    await this.poll();
    return {
      lagMaxMs: this.c.ids.map((id) => this.lag.get(id) ?? NaN),
      leaderChanges: Math.max(0, ...this.changes.values()),
      ...(this.waitTimer !== undefined
        ? { cpuWait: this.c.ids.map((id) => this.cpuWait(id)) }
        : {}),
    };
  }

  private cpuWait(id: string): { worstMs: number; totalS: number } {
    const windows = this.waits.get(id)?.windows ?? [];
    return {
      worstMs: Math.max(0, ...windows.map((w) => w.worstMs)),
      totalS: windows.reduce((sum, w) => sum + w.totalMs, 0) / 1000,
    };
  }
}
