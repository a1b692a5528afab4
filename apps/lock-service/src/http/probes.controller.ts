import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ServingState } from '../grpc/serving.js';
import { METRICS_REGISTRY, type MetricsRegistry } from './metrics.js';

/** The few Express Response methods used, to avoid a dependency on @types/express. */
interface Reply {
  status(code: number): Reply;
  type(contentType: string): Reply;
  set(field: string, value: string): Reply;
  send(body: string): unknown;
}

function reply(res: Reply, code: number, contentType: string, body: string): void {
  res.status(code).type(contentType).set('Cache-Control', 'no-store').send(body);
}

@Controller()
export class ProbesController {
  constructor(
    private readonly serving: ServingState,
    @Inject(METRICS_REGISTRY) private readonly registry: MetricsRegistry,
  ) {}

  /** Liveness: answering at all is the signal; a node without a leader must not be restarted. */
  @Get('healthz')
  healthz(@Res() res: Reply): void {
    reply(res, 200, 'text/plain', 'ok\n');
  }

  @Get('readyz')
  readyz(@Res() res: Reply): void {
    if (this.serving.isServing()) reply(res, 200, 'text/plain', 'ready\n');
    else reply(res, 503, 'text/plain', 'not serving\n');
  }

  @Get('metrics')
  async metrics(@Res() res: Reply): Promise<void> {
    reply(res, 200, this.registry.contentType, await this.registry.metrics());
  }
}
