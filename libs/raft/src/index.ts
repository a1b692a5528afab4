export * from './types.js';
export * from './storage.js';
export * from './errors.js';
export * from './config.js';
export * from './prng.js';
export * from './ready.js';
export { RaftLog } from './log.js';
export { Progress, ProgressState } from './progress.js';
export { RaftCore, type CoreStatus } from './raft.js';
export * from './ports.js';
export {
  ChunkQueue,
  chunksOf,
  readAll,
  rechunk,
  SNAPSHOT_CHUNK_BYTES,
  snapshotDataOf,
} from './snapshot-stream.js';
export { RaftNode } from './node.js';
export { SnapshotAbandoned } from './node-snapshots.js';
export {
  forceNewCluster,
  type ForcedCluster,
  storedConfiguration,
  type StoredConfiguration,
} from './force-new-cluster.js';
export type { RaftNodeOptions, RaftNodeStatus, RaftLogger } from './node-options.js';
export type { ProposalResult } from './pending.js';
export type { ProposalOutcome, RaftNodeObserver } from './observer.js';
export { MemoryStorage, RocksDbStorage } from './storage/index.js';
export {
  type ClusterIdentity,
  GrpcTransport,
  type GrpcTransportOptions,
  type PeerService,
} from './transport/index.js';
export { MinHeap } from './min-heap.js';
export {
  bootstrapMembership,
  decodeMembers,
  encodeMembers,
  isVoter,
  learnersOf,
  type MemberConfig,
  type Membership,
  type MembershipChange,
  votersOf,
} from './membership.js';
