export {
  GrpcTransport,
  type GrpcTransportOptions,
  type PeerService,
  type TransportLogger,
} from './grpc-transport.js';
export {
  CodecError,
  decodeMessage,
  encodeMessage,
  encodeSnapshotChunks,
  SnapshotChunkSequence,
  type InstallSnapshotChunkPb,
  type RaftMessagePb,
  type StreamMessage,
} from './codec.js';
export {
  findRaftProtoFile,
  loadRaftProto,
  PROTO_LOADER_OPTIONS,
  RAFT_SERVICE_NAME,
} from './proto.js';
export { CLUSTER_ID_HEADER, type ClusterIdentity } from './cluster-guard.js';
