// The simulated world: one seeded PRNG, virtual time and one event queue that everything runs
// through, so that a seed replays exactly. Generic: it knows hosts, not Raft.
import { MinHeap, type Random, seededRandom } from '../../../libs/raft/src/index.js';
import { SimHost, type HostId } from './host.js';
import { asError } from '../../../libs/common/src/errors.js';

interface WorldEvent {
  at: number;
  seq: number;
  fn: () => void;
}

export interface SimWorldOptions {
  /** Receives every trace line, `<ms> <line>`; tracing is off without it. */
  trace?: (line: string) => void;
  /** A run that executes more events than this fails (a livelock, or a runaway timer loop). */
  maxEvents?: number;
  /** Host clocks run at 1 +/- this rate (default 0.01: +/-1 %). */
  clockDrift?: number;
}

/** Thrown by run() when something failed inside the world (see SimWorld.fail). */
export class SimFailure extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'SimFailure';
  }
}

// Globals bound once: under Jest, modules run in a vm context where every global lookup costs
// about 300 ns, more than a whole event of the world's own work.
const Prom = Promise;
const resolved = Prom.resolve();
const nextTick = process.nextTick.bind(process);
const { floor, max } = Math;

/** A real event-loop turn now and then, so that the host process (jest's timeouts) stays live. */
const EVENTS_PER_YIELD = 1024;

/**
 * Virtual time in ms (a float) and a queue of events ordered by time, ties broken by insertion
 * order. run() pops one event at a time and, after each, lets every promise continuation it
 * caused run before the next event, as Node runs microtasks between two callbacks. Nothing in
 * the world may use real time, real timers or Math.random: only `now`, `schedule`/`at` (or a
 * host's runtime) and `rand`.
 */
export class SimWorld {
  readonly rand: Random;
  now = 0;
  /** Events run so far. */
  events = 0;
  private seq = 0;
  private readonly queue = new MinHeap<WorldEvent>(
    (a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq),
  );
  private readonly traceSink: ((line: string) => void) | undefined;
  private readonly maxEvents: number;
  private readonly clockDrift: number;
  private readonly current = new Map<HostId, SimHost>();
  private failure: SimFailure | undefined;
  private running = false;

  constructor(
    readonly seed: number,
    opts: SimWorldOptions = {},
  ) {
    this.rand = seededRandom(seed);
    this.traceSink = opts.trace;
    this.maxEvents = opts.maxEvents ?? 50_000_000;
    this.clockDrift = opts.clockDrift ?? 0.01;
  }

  // ---- randomness ----------------------------------------------------------------------------

  /** Uniform in [lo, hi). */
  between(lo: number, hi: number): number {
    return lo + this.rand() * (hi - lo);
  }

  /** Integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + floor(this.rand() * (hi - lo));
  }

  chance(p: number): boolean {
    return this.rand() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[floor(this.rand() * xs.length)]!; // in [0, length), and xs is not empty
  }

  /** A deterministic shuffle (Fisher-Yates) of a copy of xs. */
  shuffle<T>(xs: readonly T[]): T[] {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = floor(this.rand() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!]; // 0 <= j <= i < length
    }
    return a;
  }

  // ---- time and events -----------------------------------------------------------------------

  /** Runs fn at world time now + delayMs. Raw world events bypass hosts: for the test harness. */
  schedule(delayMs: number, fn: () => void): void {
    this.at(this.now + max(0, delayMs), fn);
  }

  /** Runs fn at world time `time` (not before now). */
  at(time: number, fn: () => void): void {
    this.queue.push({ at: max(time, this.now), seq: this.seq++, fn });
  }

  get pendingEvents(): number {
    return this.queue.size;
  }

  /**
   * Runs events in order until world time passes untilMs (now is then untilMs), the queue is
   * empty, or stop() returns true after an event (checked once its microtasks ran). Resolves
   * true if stopped. Rejects with SimFailure once anything called fail() or an event threw.
   *
   * Between two events every promise continuation queued by the first, and every one those
   * queue in turn, runs (as Node runs microtasks between two callbacks). Each step runs as a
   * microtask and queues the next through process.nextTick, which Node runs only once the
   * microtask queue is empty: the guarantee of awaiting setImmediate after each event, without
   * an event-loop turn (7 times cheaper in plain Node). Nothing in the world may use nextTick.
   */
  run(untilMs: number, stop?: () => boolean): Promise<boolean> {
    if (this.running) return Prom.reject(new Error('SimWorld.run() is already running'));
    this.running = true;
    return new Prom<boolean>((outerResolve, outerReject) => {
      const resolve = (stopped: boolean) => {
        this.running = false;
        outerResolve(stopped);
      };
      const reject = (e: unknown) => {
        this.running = false;
        outerReject(asError(e));
      };
      let ranOne = false;
      const next = () => void resolved.then(step);
      const step = () => {
        try {
          if (this.failure) return reject(this.failure);
          if (ranOne && stop?.()) return resolve(true);
          const ev = this.queue.peek();
          if (ev === undefined || ev.at > untilMs) {
            this.now = max(this.now, untilMs);
            return resolve(false);
          }
          this.queue.pop();
          this.now = ev.at;
          ranOne = true;
          if (++this.events > this.maxEvents)
            this.fail(new Error(`more than ${this.maxEvents} events: livelock or runaway timers`));
          try {
            ev.fn();
          } catch (e) {
            this.fail(e);
          }
          if (this.events % EVENTS_PER_YIELD === 0) setImmediate(next);
          else nextTick(next);
        } catch (e) {
          reject(e); // from stop()
        }
      };
      // What the caller started before run() (promise continuations) may schedule events.
      void resolved.then(() => nextTick(next));
    });
  }

  /**
   * Records a failure of the run (a safety violation, an exception in a host callback or in a
   * promise continuation); run() rejects with the first one after the current event.
   */
  fail(e: unknown): void {
    if (this.failure) return;
    const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
    this.trace(`FAIL ${e instanceof Error ? e.message : msg}`);
    this.failure = new SimFailure(`at ${this.now.toFixed(3)} ms: ${msg}`, e);
  }

  get failed(): SimFailure | undefined {
    return this.failure;
  }

  // ---- tracing -------------------------------------------------------------------------------

  get tracing(): boolean {
    return this.traceSink !== undefined;
  }

  /** Prints `<ms> <line>` when tracing; pass a function to build costly lines only then. */
  trace(line: string | (() => string)): void {
    if (this.traceSink === undefined) return;
    this.traceSink(`${this.now.toFixed(3)} ${typeof line === 'function' ? line() : line}`);
  }

  // ---- hosts ---------------------------------------------------------------------------------

  /**
   * Starts a new incarnation of host id (a process on a machine): a fresh runtime with its own
   * drifting clock. A previous incarnation must have crashed; it never runs again.
   */
  spawn(id: HostId): SimHost {
    const prev = this.current.get(id);
    if (prev && !prev.crashed) throw new Error(`host ${id} is still running`);
    const rate = 1 + this.between(-this.clockDrift, this.clockDrift);
    // A clock's zero is arbitrary (monotonic clocks count from boot): hosts must not agree.
    const offset = this.between(0, 1e6);
    const host = new SimHost(this, id, (prev?.incarnation ?? 0) + 1, rate, offset);
    this.current.set(id, host);
    this.trace(`${id}#${host.incarnation} spawn rate=${rate.toFixed(5)}`);
    return host;
  }

  /** The latest incarnation of id (possibly crashed), if it was ever spawned. */
  host(id: HostId): SimHost | undefined {
    return this.current.get(id);
  }

  /** Ids of every host ever spawned, in spawn order. */
  hostIds(): HostId[] {
    return [...this.current.keys()];
  }
}
