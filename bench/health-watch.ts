// While a lease phase runs: how each member fared, polled from its /metrics every second. The
// figures a million-lease goal is stated in: the longest event-loop stall per member and the
// leader changes the cluster went through.
import { ignoreRejection } from '../libs/common/src/ignore.js';
import type { BenchCluster } from './adapters/types.js';

export interface Health {
  /** Longest event-loop stall per member (in member order), ms; NaN where not exported. */
  lagMaxMs: number[];
  /** Leader changes seen by the member that saw the most (a restarted member's first excluded). */
  leaderChanges: number;
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

  constructor(private readonly c: BenchCluster) {
    this.timer = setInterval(() => void this.poll(), 1000);
  }

  /** A member about to be killed or restarted: its next counter starts a new baseline. */
  restarting(id: string): void {
    this.last.set(id, undefined);
    this.read.delete(id);
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
    await this.poll();
    return {
      lagMaxMs: this.c.ids.map((id) => this.lag.get(id) ?? NaN),
      leaderChanges: Math.max(0, ...this.changes.values()),
    };
  }
}
