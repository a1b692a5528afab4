// Where the public protos live and how they are loaded, shared by the server and the tests' clients.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const QUORUMLOCK_PACKAGE = 'quorumlock.v1';
export const QUORUMLOCK_SERVICES = [
  'quorumlock.v1.LockService',
  'quorumlock.v1.ElectionService',
  'quorumlock.v1.ClusterService',
] as const;

/** gRPC's usual limit, stated explicitly so that client and server agree. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * keepCase delivers the snake_case fields LockApi's DTOs use; longs: Number is safe because
 * fencing tokens and indexes are Raft log positions, far below 2^53.
 */
export const PROTO_LOADER_OPTIONS = {
  keepCase: true,
  longs: Number,
  enums: Number,
  defaults: true,
  oneofs: true,
} satisfies protoLoader.Options;

const LOCK_PROTO = join('proto', 'quorumlock', 'v1', 'lock.proto');

/** Walks up from this module because it runs both from source (jest) and from dist/. */
export function quorumlockProtoFiles(): string[] {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, LOCK_PROTO))) {
      const v1 = join(dir, dirname(LOCK_PROTO));
      return ['lock.proto', 'election.proto', 'cluster.proto'].map((f) => join(v1, f));
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`${LOCK_PROTO} not found above ${import.meta.url}`);
    dir = parent;
  }
}

/** The quorumlock.v1 package as grpc-js client constructors (forwarding, tests, the CLI). */
export function loadApiPackage(): grpc.GrpcObject {
  const def = protoLoader.loadSync(quorumlockProtoFiles(), PROTO_LOADER_OPTIONS);
  return (grpc.loadPackageDefinition(def).quorumlock as grpc.GrpcObject).v1 as grpc.GrpcObject;
}
