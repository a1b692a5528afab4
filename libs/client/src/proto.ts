// Loads the public API for the client. Self-contained on purpose: the SDK must not depend on the
// server's code, only on the .proto files it ships with.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/**
 * longs: String because fencing tokens are uint64 on the wire: the client turns them into
 * bigint rather than trusting that every server keeps them below 2^53. enums: String so that
 * watch events read as 'ACQUIRED' instead of 0.
 */
export const CLIENT_PROTO_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} satisfies protoLoader.Options;

const LOCK_PROTO = join('proto', 'quorumlock', 'v1', 'lock.proto');

/** Walks up from this module, which runs from source (jest), from dist/, or from a package. */
export function clientProtoFiles(): string[] {
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

export type ServiceName = 'LockService' | 'ElectionService' | 'ClusterService';

/** The method definitions of the three services, keyed by service then method name. */
export type ApiDefinitions = Record<ServiceName, grpc.ServiceDefinition>;

let cached: ApiDefinitions | undefined;

export function loadClientDefinitions(): ApiDefinitions {
  if (cached) return cached;
  const def = protoLoader.loadSync(clientProtoFiles(), CLIENT_PROTO_OPTIONS);
  const pick = (name: ServiceName) => def[`quorumlock.v1.${name}`] as grpc.ServiceDefinition;
  cached = {
    LockService: pick('LockService'),
    ElectionService: pick('ElectionService'),
    ClusterService: pick('ClusterService'),
  };
  return cached;
}
