// One answer to "should traffic come here?" for both the gRPC health service and /readyz.
import { Inject, Injectable, Module } from '@nestjs/common';
import type { LockApi } from '../domain/api.js';
import { LOCK_API } from './tokens.js';

@Injectable()
export class ServingState {
  private draining = false;

  constructor(@Inject(LOCK_API) private readonly api: LockApi) {}

  /** False from the start of a shutdown on, so balancers move away before the node stops. */
  isServing(): boolean {
    if (this.draining) return false;
    try {
      return this.api.isServing();
    } catch {
      return false;
    }
  }

  drain(): void {
    this.draining = true;
  }
}

/** Imported by both the gRPC and HTTP modules, so they share the one ServingState. */
@Module({ providers: [ServingState], exports: [ServingState] })
export class ServingModule {}
