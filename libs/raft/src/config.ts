import type { Random } from './prng.js';
import type { NodeId } from './types.js';

/** Configuration of the pure core, in ticks: the driver turns milliseconds into ticks. */
export interface CoreConfig {
  readonly id: NodeId;
  /**
   * The bootstrap membership: every voter, this node included; empty for a node that joins an
   * existing cluster and waits to be added. A configuration in the snapshot or the log overrides
   * it.
   */
  readonly voters: readonly NodeId[];
  /** Peer addresses of the bootstrap voters, recorded in the first Config entry. */
  readonly addresses?: Readonly<Record<NodeId, string>>;
  /**
   * A learner is promoted only if its log is within this many entries of the leader's last
   * index (and it was heard from within electionTicksMin ticks).
   */
  readonly maxPromoteLagEntries: number;
  /** Election timeout is drawn uniformly from [electionTicksMin, electionTicksMax). */
  readonly electionTicksMin: number;
  readonly electionTicksMax: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Pipelining window: AppendEntries in flight per follower. */
  readonly maxInflightMsgs: number;
  /** Byte budget of entries in one AppendEntries (at least one entry is always sent). */
  readonly maxMsgBytes: number;
  /** Back-pressure: proposals are refused beyond this many uncommitted entries. */
  readonly maxUncommittedEntries: number;
  /** Entries handed to the application in one Ready. */
  readonly maxApplyEntries: number;
  readonly maxPendingReads: number;
  /** A follower stuck in snapshot state for this long is probed again. */
  readonly snapshotTimeoutTicks: number;
  readonly random: Random;
}

export const coreDefaults = {
  preVote: true,
  checkQuorum: true,
  maxInflightMsgs: 256,
  maxMsgBytes: 1 << 20,
  maxUncommittedEntries: 65536,
  maxApplyEntries: 4096,
  maxPendingReads: 65536,
  maxPromoteLagEntries: 1000,
} as const;

export function validateCoreConfig(c: CoreConfig): void {
  const fail = (field: string, why: string) => {
    throw new Error(`invalid raft config: ${field} ${why}`);
  };
  if (!c.id) fail('id', 'must not be empty');
  if (c.voters.length > 0 && !c.voters.includes(c.id))
    fail('voters', `must include this node (${c.id}), or be empty for a node that joins`);
  if (new Set(c.voters).size !== c.voters.length) fail('voters', 'must be unique');
  if (!(c.heartbeatTicks >= 1)) fail('heartbeatTicks', 'must be >= 1');
  if (!(c.electionTicksMin > c.heartbeatTicks))
    fail('electionTicksMin', 'must exceed heartbeatTicks');
  if (!(c.electionTicksMax > c.electionTicksMin))
    fail('electionTicksMax', 'must exceed electionTicksMin');
  for (const k of [
    'maxInflightMsgs',
    'maxMsgBytes',
    'maxUncommittedEntries',
    'maxApplyEntries',
    'maxPendingReads',
    'snapshotTimeoutTicks',
    'maxPromoteLagEntries',
  ] as const) {
    if (!(Number.isInteger(c[k]) && c[k] >= 1)) fail(k, 'must be a positive integer');
  }
}
