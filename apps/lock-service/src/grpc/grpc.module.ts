import { Module } from '@nestjs/common';
import { ClusterController } from './cluster.controller.js';
import { ElectionController } from './election.controller.js';
import { GrpcHealth } from './health.js';
import { LockController } from './lock.controller.js';
import { ServingModule } from './serving.js';

/** The gRPC API; needs LOCK_API and LOGGER from a global module. */
@Module({
  imports: [ServingModule],
  controllers: [LockController, ElectionController, ClusterController],
  providers: [GrpcHealth],
  exports: [GrpcHealth],
})
export class GrpcApiModule {}
