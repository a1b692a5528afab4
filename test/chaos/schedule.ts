// The fault schedule, drawn from a seed alone: the same seed, duration and cluster size give the
// same sequence of faults, durations and pauses. Which node "the leader" is gets resolved when a
// fault starts; `pick` makes every other choice reproducible.
import { randomInt, seededRandom, type Random } from '../../libs/raft/src/prng.js';

export const FAULT_KINDS = [
  'kill-leader',
  'kill-node',
  'pause-leader',
  'partition-halves',
  'isolate-leader',
  'bridge',
  'one-way-leader',
  'slow-node',
  'pause-client',
  'crash-all',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultStep {
  kind: FaultKind;
  /** Healthy time before the fault starts. */
  quietMs: number;
  durationMs: number;
  /** Drop (connection resets) or blackhole (silence) for the partitions. */
  linkMode: 'drop' | 'blackhole';
  /** Extra latency per link for slow-node. */
  delayMs: number;
  /** A uniform draw in [0, 1) that picks nodes and groups when the fault starts. */
  pick: number;
}

/** Relative frequency: leader faults are the interesting ones, full crashes are rare. */
const WEIGHTS: Record<FaultKind, number> = {
  'kill-leader': 3,
  'kill-node': 1,
  'pause-leader': 2,
  'partition-halves': 2,
  'isolate-leader': 2,
  bridge: 1,
  'one-way-leader': 1.5,
  'slow-node': 1,
  'pause-client': 2,
  'crash-all': 0.4,
};

/** [min, max) duration of each kind, in ms. Pauses straddle the 1-3 s TTLs on purpose. */
const DURATIONS: Record<FaultKind, [number, number]> = {
  'kill-leader': [500, 6000],
  'kill-node': [500, 6000],
  'pause-leader': [500, 5000],
  'partition-halves': [2000, 8000],
  'isolate-leader': [2000, 8000],
  bridge: [2000, 8000],
  'one-way-leader': [2000, 8000],
  'slow-node': [3000, 8000],
  'pause-client': [2500, 5000],
  'crash-all': [500, 3000],
};

function weighted(r: Random): FaultKind {
  const total = FAULT_KINDS.reduce((s, k) => s + WEIGHTS[k], 0);
  let x = r() * total;
  for (const k of FAULT_KINDS) {
    x -= WEIGHTS[k];
    if (x < 0) return k;
  }
  return FAULT_KINDS[0];
}

/**
 * More faults than durationMs can hold: the run stops starting faults at its deadline, so the
 * list must not run out first. Steps are drawn in order, so a longer list keeps the same prefix.
 */
export function makeSchedule(seed: number, durationMs: number): FaultStep[] {
  const r = seededRandom(seed ^ 0x5eed);
  const steps: FaultStep[] = [];
  for (let t = 0; t < 2 * durationMs;) {
    const kind = weighted(r);
    const [lo, hi] = DURATIONS[kind];
    const step: FaultStep = {
      kind,
      quietMs: randomInt(r, 1000, 4000),
      durationMs: randomInt(r, lo, hi),
      linkMode: r() < 0.5 ? 'drop' : 'blackhole',
      delayMs: randomInt(r, 20, 200),
      pick: r(),
    };
    steps.push(step);
    t += step.quietMs + step.durationMs;
  }
  return steps;
}

/** "30m", "90s", "1500ms", "2h" or a bare number of milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new Error(`not a duration: ${JSON.stringify(s)} (try 90s, 30m)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms'];
  return Math.round(Number(m[1]) * unit);
}

export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
