// The public API as the server speaks it: code generated from proto/quorumlock/v1 into ../gen by
// scripts/gen-proto.sh, with uint64 as number since fencing tokens and indexes are Raft log
// positions, far below 2^53. Shared by the server, its forwarding client and the tests' clients.
import * as grpc from '@grpc/grpc-js';
import { grpcServiceDefinition } from '@quorumlock/client/grpc';
import { ClusterServiceDefinition } from '../gen/quorumlock/v1/cluster.js';
import { ElectionServiceDefinition } from '../gen/quorumlock/v1/election.js';
import { LockServiceDefinition } from '../gen/quorumlock/v1/lock.js';

type PackageDefinition = Parameters<typeof grpc.loadPackageDefinition>[0];

export const QUORUMLOCK_PACKAGE = 'quorumlock.v1';

const SERVICES = [LockServiceDefinition, ElectionServiceDefinition, ClusterServiceDefinition];

export const QUORUMLOCK_SERVICES: readonly string[] = SERVICES.map((s) => s.fullName);

/** gRPC's usual limit, stated explicitly so that client and server agree. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * The three services as a grpc-js package definition, which Nest routes by as it would one
 * loaded from the .proto files, so that the server's codec is the generated one too.
 */
export const API_PACKAGE_DEFINITION: PackageDefinition = Object.fromEntries(
  SERVICES.map((s) => [s.fullName, grpcServiceDefinition(s)]),
);

/** The quorumlock.v1 package as grpc-js client constructors (forwarding, tests, the CLI). */
export function loadApiPackage(): grpc.GrpcObject {
  const root = grpc.loadPackageDefinition(API_PACKAGE_DEFINITION);
  return (root.quorumlock as grpc.GrpcObject).v1 as grpc.GrpcObject;
}
