// What /metrics serves. The registry itself comes later; prom-client's Registry fits this shape.

export interface MetricsRegistry {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export const METRICS_REGISTRY = Symbol('MetricsRegistry');

/** Prometheus text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4';

/** A valid, empty exposition, so scrapers configured ahead of the metrics see a healthy target. */
export class EmptyMetricsRegistry implements MetricsRegistry {
  readonly contentType = PROMETHEUS_CONTENT_TYPE;

  metrics(): Promise<string> {
    return Promise.resolve('');
  }
}
