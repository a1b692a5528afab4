// Latency and rate arithmetic for the benchmark: pure, so that bench-helpers.spec.ts checks it.

export interface LatencySummary {
  /** Samples behind the percentiles (at most the recorder's cap). */
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of ascending values: the smallest value with p% at or below it. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!; // in [0, length)
}

export function summarize(samples: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? NaN,
  };
}

/**
 * Latencies in milliseconds. Beyond `cap` samples it keeps every other one of what follows (and
 * so on), which bounds memory on a very fast system while the percentiles stay those of a
 * uniform sample of the whole run; the maximum is always exact.
 */
export class LatencyRecorder {
  private samples: number[] = [];
  private stride = 1;
  private skipped = 0;
  private maxSeen = NaN;
  total = 0;

  constructor(private readonly cap = 1_000_000) {}

  add(ms: number): void {
    this.total++;
    if (!(ms <= this.maxSeen)) this.maxSeen = ms;
    if (++this.skipped < this.stride) return;
    this.skipped = 0;
    this.samples.push(ms);
    if (this.samples.length >= this.cap) {
      this.samples = this.samples.filter((_, i) => i % 2 === 0);
      this.stride *= 2;
    }
  }

  /** Adds another recorder's samples: two rounds of one workload report as one. */
  merge(other: LatencyRecorder): void {
    for (const s of other.samples) this.add(s);
    this.total += other.total - other.samples.length;
    if (!(other.maxSeen <= this.maxSeen)) this.maxSeen = other.maxSeen;
  }

  summary(): LatencySummary {
    return { ...summarize(this.samples), max: this.maxSeen };
  }
}

/** quorumlock / etcd; NaN when either side is missing or etcd's is zero. */
export function ratio(ours: number, theirs: number): number {
  return Number.isFinite(ours) && Number.isFinite(theirs) && theirs !== 0 ? ours / theirs : NaN;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  // s is not empty, so mid (and, for an even length, mid - 1) is in range.
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
