// Event-loop lag, sampled: how late a timer set for every SAMPLE_MS fires. A node whose loop
// stalls past the election timeout loses its leadership (or votes against a live leader), so
// this is the figure the election timeout is measured against.
import { Gauge, Histogram, type Registry } from 'prom-client';
import { PREFIX } from './prom.js';

const SAMPLE_MS = 20;

export class EventLoopLag {
  private readonly histogram: Histogram;
  private max = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(register: Registry) {
    this.histogram = new Histogram({
      name: `${PREFIX}event_loop_lag_seconds`,
      help: `How late a timer due every ${SAMPLE_MS} ms fired.`,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5],
      registers: [register],
    });
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client binds collect's this to the gauge
    const self = this;
    new Gauge({
      name: `${PREFIX}event_loop_lag_max_seconds`,
      help: 'The longest event-loop lag since the previous scrape.',
      registers: [register],
      collect() {
        this.set(self.max / 1000);
        self.max = 0;
      },
    });
  }

  start(): void {
    if (this.timer) return;
    let expected = performance.now() + SAMPLE_MS;
    this.timer = setInterval(() => {
      const now = performance.now();
      const lag = Math.max(0, now - expected);
      expected = now + SAMPLE_MS;
      if (lag > this.max) this.max = lag;
      this.histogram.observe(lag / 1000);
    }, SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
