import { Module } from '@nestjs/common';
import { ServingModule } from '../grpc/serving.js';
import { EmptyMetricsRegistry, METRICS_REGISTRY } from './metrics.js';
import { ProbesController } from './probes.controller.js';

/** /healthz, /readyz and /metrics on --metrics-address; needs LOCK_API from a global module. */
@Module({
  imports: [ServingModule],
  controllers: [ProbesController],
  providers: [{ provide: METRICS_REGISTRY, useClass: EmptyMetricsRegistry }],
})
export class HttpApiModule {}
