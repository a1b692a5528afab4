// RaftNode's options, status and logger.
import type { Runtime, StateMachine, Transport } from './ports.js';
import type { CoreStatus } from './raft.js';
import type { Storage } from './storage.js';
import type { NodeId } from './types.js';

export interface RaftNodeOptions<R> {
  readonly id: NodeId;
  /**
   * The bootstrap membership: every voter, this node included; empty for a node that joins an
   * existing cluster and waits to be added. Once a configuration is in the log or a snapshot,
   * that one is in force and this is ignored.
   */
  readonly voters: readonly NodeId[];
  /** Peer addresses of the bootstrap voters, recorded in the first configuration change. */
  readonly addresses?: Readonly<Record<NodeId, string>>;
  /**
   * A learner is promoted only within this many entries of the leader's last index (and heard
   * from within the minimum election timeout). Default 1000.
   */
  readonly maxPromoteLagEntries?: number;
  readonly storage: Storage;
  readonly transport: Transport;
  readonly stateMachine: StateMachine<R>;
  readonly tickMs?: number;
  readonly electionTimeoutMinMs?: number;
  readonly electionTimeoutMaxMs?: number;
  readonly heartbeatIntervalMs?: number;
  /** Take a snapshot and compact the log after this many applied entries. */
  readonly snapshotEntries?: number;
  /**
   * Decides, from the entries applied since the last snapshot, whether to take one now; by
   * default, once snapshotEntries have been applied. An application whose snapshots grow with
   * its state can space them out so their cost per entry stays flat.
   */
  readonly snapshotDue?: (entriesSinceSnapshot: number) => boolean;
  /** Entries kept behind a snapshot so that slightly lagging followers need no snapshot. */
  readonly snapshotRetainEntries?: number;
  readonly maxInflightMsgs?: number;
  readonly maxMsgBytes?: number;
  readonly maxUncommittedEntries?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /** Seed of the election-timeout PRNG; random by default. */
  readonly seed?: number;
  readonly logger?: RaftLogger;
  /** Clock and timers; the process's own by default, virtual ones in the simulator. */
  readonly runtime?: Runtime;
}

export interface RaftLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RaftNodeStatus extends CoreStatus {
  /** Voters and learners of the configuration in force. */
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export const silentLogger: RaftLogger = { info: () => {}, warn: () => {}, error: () => {} };
