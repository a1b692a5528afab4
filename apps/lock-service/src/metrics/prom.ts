// Small helpers over prom-client shared by the metric groups.
import { Counter, Gauge, type Registry } from 'prom-client';

/** Every metric this service defines starts with this; so do the process defaults. */
export const PREFIX = 'quorumlock_';

/** Latencies from sub-millisecond (an in-memory renew, a fast fsync) up to a long lock wait. */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/**
 * A counter mirroring a running total kept elsewhere (a plain number on the hot path), read
 * only when scraped. The source only grows while the process lives, so reset-and-add keeps
 * the counter monotonic.
 */
export function mirroredCounter(
  register: Registry,
  name: string,
  help: string,
  read: () => number,
): Counter {
  return new Counter({
    name,
    help,
    registers: [register],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** As mirroredCounter, one series per label value. */
export function mirroredLabelledCounter<K extends string>(
  register: Registry,
  name: string,
  help: string,
  label: string,
  read: () => Readonly<Record<K, number>>,
): Counter<string> {
  return new Counter({
    name,
    help,
    labelNames: [label],
    registers: [register],
    collect() {
      this.reset();
      for (const [value, n] of Object.entries<number>(read())) this.inc({ [label]: value }, n);
    },
  });
}

/** A gauge computed when scraped. */
export function computedGauge(
  register: Registry,
  name: string,
  help: string,
  read: () => number,
): Gauge {
  return new Gauge({
    name,
    help,
    registers: [register],
    collect() {
      this.set(read());
    },
  });
}
