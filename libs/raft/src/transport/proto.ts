// Loads raft.proto at runtime (no code generation) and exposes the method definitions the
// transport needs. Loaded once per process: parsing the schema is far too slow for the hot path.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { InstallSnapshotChunkPb, RaftMessagePb } from './codec.js';

const PROTO_RELATIVE = join('proto', 'raft', 'v1', 'raft.proto');
export const RAFT_SERVICE_NAME = 'quorumlock.raft.v1.RaftTransport';

/**
 * longs: Number is safe because terms, indexes and ctx stay below 2^53 (types.ts); it saves a
 * Long-to-number conversion per field in the codec.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  defaults: true,
  oneofs: true,
};

export interface RaftProto {
  readonly definition: protoLoader.PackageDefinition;
  readonly service: grpc.ServiceDefinition;
  readonly sendPath: string;
  readonly installSnapshotPath: string;
  readonly serializeMessage: (msg: RaftMessagePb) => Buffer;
  readonly serializeChunk: (chunk: InstallSnapshotChunkPb) => Buffer;
}

let loaded: RaftProto | null = null;

/**
 * Walks up from this module because it runs both from source (tests) and from dist/ (built),
 * at different depths below the repository root that holds proto/.
 */
export function findRaftProtoFile(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, PROTO_RELATIVE);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`${PROTO_RELATIVE} not found above ${import.meta.url}`);
    dir = parent;
  }
}

export function loadRaftProto(): RaftProto {
  if (loaded !== null) return loaded;
  const definition = protoLoader.loadSync(findRaftProtoFile(), PROTO_LOADER_OPTIONS);
  const service = definition[RAFT_SERVICE_NAME] as grpc.ServiceDefinition;
  const send = service['Send'];
  const install = service['InstallSnapshot'];
  if (!send || !install) throw new Error(`${RAFT_SERVICE_NAME} lacks Send or InstallSnapshot`);
  loaded = {
    definition,
    service,
    sendPath: send.path,
    installSnapshotPath: install.path,
    serializeMessage: send.requestSerialize as (msg: RaftMessagePb) => Buffer,
    serializeChunk: install.requestSerialize as (chunk: InstallSnapshotChunkPb) => Buffer,
  };
  return loaded;
}
