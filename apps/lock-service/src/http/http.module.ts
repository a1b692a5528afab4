import { type DynamicModule, Module } from '@nestjs/common';
import { ServingModule } from '../grpc/serving.js';
import { EmptyMetricsRegistry, METRICS_REGISTRY, type MetricsRegistry } from './metrics.js';
import { ProbesController } from './probes.controller.js';

/** /healthz, /readyz and /metrics on --metrics-address; needs LOCK_API from a global module. */
@Module({
  imports: [ServingModule],
  controllers: [ProbesController],
  providers: [{ provide: METRICS_REGISTRY, useClass: EmptyMetricsRegistry }],
})
export class HttpApiModule {
  /** The same module serving `registry` at /metrics instead of an empty exposition. */
  static withRegistry(registry: MetricsRegistry): DynamicModule {
    return {
      module: HttpApiModule,
      providers: [{ provide: METRICS_REGISTRY, useValue: registry }],
    };
  }
}
