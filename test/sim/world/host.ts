// One process on one machine of the simulated world: its clock, its timers, its pauses and its
// death. Code under test gets the host as its Runtime and so never touches real time.
import type { Runtime, Timer } from '../../../libs/raft/src/index.js';
import type { SimWorld } from './world.js';

// Bound once: global lookups are slow in Jest's vm context (see world.ts).
const { max } = Math;

export type HostId = string;

/**
 * A Runtime on the world's queue. Its clock runs at `rate` (within +/-1 % of the world's) from
 * an arbitrary offset. Every callback it runs, timers, `soon` work and network deliveries alike,
 * goes through run(): a crashed incarnation never runs anything again, and a frozen one (a GC
 * pause, SIGSTOP) runs what came due only when the freeze ends, while its clock keeps running.
 */
export class SimHost implements Runtime {
  private isCrashed = false;
  private frozenUntil = -Infinity;
  private held: (() => void)[] = [];
  private readonly crashHooks: (() => void)[] = [];

  constructor(
    readonly world: SimWorld,
    readonly id: HostId,
    /** 1 for the first process with this id, then one more per restart. */
    readonly incarnation: number,
    readonly rate: number,
    private readonly offset: number,
  ) {}

  /** id#incarnation, for traces. */
  get name(): string {
    return `${this.id}#${this.incarnation}`;
  }

  get crashed(): boolean {
    return this.isCrashed;
  }

  get frozen(): boolean {
    return this.world.now < this.frozenUntil;
  }

  // ---- Runtime -------------------------------------------------------------------------------

  now(): number {
    return this.offset + this.world.now * this.rate;
  }

  after(ms: number, fn: () => void): Timer {
    let cancelled = false;
    this.world.schedule(max(0, ms) / this.rate, () => {
      if (!cancelled) this.run(fn);
    });
    return { cancel: () => (cancelled = true) };
  }

  soon(fn: () => void): void {
    this.world.schedule(0, () => this.run(fn));
  }

  // ---- the guard -----------------------------------------------------------------------------

  /** Runs fn on this host now, unless it crashed (dropped) or is frozen (held until the thaw). */
  run(fn: () => void): void {
    if (this.isCrashed) return;
    if (this.world.now < this.frozenUntil) {
      this.held.push(fn);
      return;
    }
    try {
      fn();
    } catch (e) {
      // In a real process an uncaught exception kills it: here it fails the run, loudly.
      this.world.fail(e);
    }
  }

  // ---- faults --------------------------------------------------------------------------------

  /**
   * Pauses the process for ms of world time: nothing it would run meanwhile runs until the end,
   * then everything held runs in the order it came due, one event each.
   */
  freeze(ms: number): void {
    if (this.isCrashed) return;
    const until = this.world.now + ms;
    if (until <= this.frozenUntil) return;
    this.frozenUntil = until;
    this.world.trace(`${this.name} freeze ${ms.toFixed(1)}ms`);
    this.world.at(until, () => {
      if (this.isCrashed || this.world.now < this.frozenUntil) return;
      const held = this.held;
      this.held = [];
      this.world.trace(`${this.name} thaw (${held.length} held)`);
      for (const fn of held) this.world.schedule(0, () => this.run(fn));
    });
  }

  /** Kills the process: everything it had pending is dropped forever; crash hooks run. */
  crash(): void {
    if (this.isCrashed) return;
    this.isCrashed = true;
    this.held = [];
    this.world.trace(`${this.name} crash`);
    for (const hook of this.crashHooks) hook();
  }

  /** What dies with the process (a disk's unfinished writes, a transport's connections). */
  onCrash(hook: () => void): void {
    this.crashHooks.push(hook);
  }
}
