import { Module } from '@nestjs/common';
import { AccessGate } from './access-gate.js';
import { ClusterController } from './cluster.controller.js';
import { ElectionController } from './election.controller.js';
import { GrpcHealth } from './health.js';
import { LockController } from './lock.controller.js';
import { ServingModule } from './serving.js';

/** The gRPC API; needs LOCK_API, LOGGER and ACCESS_CONTROL from a global module. */
@Module({
  imports: [ServingModule],
  controllers: [LockController, ElectionController, ClusterController],
  providers: [GrpcHealth, AccessGate],
  exports: [GrpcHealth],
})
export class GrpcApiModule {}
