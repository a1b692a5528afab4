import type { Logger } from 'pino';

export interface Limits {
  /** Leases alive at once; beyond it Acquire/Campaign that create a lease are RESOURCE_EXHAUSTED. */
  readonly maxLeases: number;
  /** Waiters queued on one lock or election. */
  readonly maxWaitersPerLock: number;
  /** Locks and elections one lease may hold or wait for. */
  readonly maxLocksPerLease: number;
  /** Elections alive at once. */
  readonly maxElections: number;
  /** Open Watch/Observe/KeepAlive streams on this node. */
  readonly maxStreams: number;
  /** Bytes all Watch/Observe streams of this node may hold for slow consumers. */
  readonly maxStreamBufferBytes: number;
}

export interface LockNodeOptions {
  readonly id: string;
  /** host:port clients reach this node at; advertised so that followers can forward to it. */
  readonly clientAddress: string;
  /** host:port the Raft transport listens on. */
  readonly peerAddress: string;
  /**
   * Every member's Raft peer address, this node included: the bootstrap membership. For a node
   * that joins (join), members of the running cluster to reach.
   */
  readonly peers: Readonly<Record<string, string>>;
  /** Start with no data and wait to be added (quorumlock serve --join). */
  readonly join: boolean;
  readonly dataDir: string;
  readonly electionTimeoutMinMs: number;
  readonly electionTimeoutMaxMs: number;
  readonly heartbeatIntervalMs: number;
  /** How often the leader persists remaining lease TTLs into the log. */
  readonly checkpointIntervalMs: number;
  readonly snapshotEntries: number;
  readonly limits: Limits;
  readonly logger: Logger;
  /**
   * Whether an identity is an admin, who may use any lease (--auth-config). Asked by the
   * leader as it proposes a call's command; by default nobody is.
   */
  readonly isAdmin?: (principal: string) => boolean;
}

export const defaultLimits: Limits = {
  maxLeases: 1_000_000,
  maxWaitersPerLock: 10_000,
  maxLocksPerLease: 64,
  maxElections: 100_000,
  maxStreams: 10_000,
  maxStreamBufferBytes: 64 * 1024 * 1024,
};
