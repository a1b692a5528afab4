// grpc.health.v1.Health on the API server, from the grpc-health-check package.
import type { Server } from '@grpc/grpc-js';
import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { QUORUMLOCK_SERVICES } from './proto.js';
import { ServingState } from './serving.js';

/** "" is the whole server, what most probes (Kubernetes, grpc-health-probe) ask about. */
export const HEALTH_SERVICE_NAMES: readonly string[] = ['', ...QUORUMLOCK_SERVICES];

/** Watchers learn of a change within this; Check is always current. */
const POLL_MS = 200;

type Handlers = Parameters<Server['addService']>[1];
type CheckHandler = (call: unknown, callback: unknown) => void;

/**
 * HealthImplementation only stores statuses that someone sets, while LockApi.isServing() is a
 * query: Check refreshes before answering and a timer refreshes for Watch streams.
 */
@Injectable()
export class GrpcHealth implements OnModuleDestroy {
  private readonly health = new HealthImplementation();
  private current: ServingStatus | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly serving: ServingState) {
    this.refresh();
  }

  addToServer(server: Server): void {
    this.health.addToServer({
      addService: (definition, handlers) => {
        const check = handlers['check'] as CheckHandler;
        const checked: Handlers = {
          ...handlers,
          check: (call: unknown, callback: unknown) => {
            this.refresh();
            check(call, callback);
          },
        };
        server.addService(definition, checked);
      },
    });
    this.timer ??= setInterval(() => this.refresh(), POLL_MS).unref();
  }

  refresh(): void {
    const status: ServingStatus = this.serving.isServing() ? 'SERVING' : 'NOT_SERVING';
    if (status === this.current) return;
    this.current = status;
    for (const name of HEALTH_SERVICE_NAMES) this.health.setStatus(name, status);
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
