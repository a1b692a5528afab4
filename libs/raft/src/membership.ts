// Cluster membership (Raft thesis chapter 4): who votes, who only learns the log, and where to
// reach them. A configuration travels through the log as a Config entry carrying the whole new
// membership (not a delta), so that a node which replays the log from any point, or installs a
// snapshot, knows the complete configuration from that entry alone.
import { MembershipChangeError } from './errors.js';
import type { NodeId } from './types.js';

export interface MemberConfig {
  readonly id: NodeId;
  /** A learner receives the log but never votes, campaigns or counts toward a quorum. */
  readonly learner: boolean;
  /** The peer (Raft transport) address; '' when the application did not give one. */
  readonly address: string;
}

export interface Membership {
  /** Log index of the Config entry that set it; 0 for the bootstrap membership. */
  readonly index: number;
  readonly members: readonly MemberConfig[];
}

/** A requested change: the core checks it against the configuration in force. */
export type MembershipChange =
  | { readonly type: 'addLearner'; readonly id: NodeId; readonly address: string }
  | { readonly type: 'addVoter'; readonly id: NodeId; readonly address: string }
  | { readonly type: 'promote'; readonly id: NodeId }
  | { readonly type: 'remove'; readonly id: NodeId };

export function votersOf(m: Membership): NodeId[] {
  return m.members.filter((x) => !x.learner).map((x) => x.id);
}

export function learnersOf(m: Membership): NodeId[] {
  return m.members.filter((x) => x.learner).map((x) => x.id);
}

export function memberOf(m: Membership, id: NodeId): MemberConfig | undefined {
  return m.members.find((x) => x.id === id);
}

export function isVoter(m: Membership, id: NodeId): boolean {
  return memberOf(m, id)?.learner === false;
}

/** A majority of n voters. */
export function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

export function bootstrapMembership(
  voters: readonly NodeId[],
  addresses: Readonly<Record<NodeId, string>> = {},
): Membership {
  return {
    index: 0,
    members: voters.map((id) => ({ id, learner: false, address: addresses[id] ?? '' })),
  };
}

const FORMAT = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The members of a Config entry's data or a snapshot's meta: versioned JSON, written once by the
 * leader and read back byte for byte, so key order does not matter for determinism.
 */
export function encodeMembers(members: readonly MemberConfig[]): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      v: FORMAT,
      members: members.map((m) => ({ id: m.id, learner: m.learner, address: m.address })),
    }),
  );
}

export class MembershipFormatError extends Error {
  override readonly name = 'MembershipFormatError';
}

export function decodeMembers(data: Uint8Array): MemberConfig[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch (e) {
    throw new MembershipFormatError(`membership is not valid JSON: ${(e as Error).message}`);
  }
  const obj = parsed as { v?: unknown; members?: unknown };
  if (typeof obj !== 'object' || obj === null || obj.v !== FORMAT || !Array.isArray(obj.members))
    throw new MembershipFormatError(`unknown membership format ${JSON.stringify(obj?.v)}`);
  const seen = new Set<string>();
  return obj.members.map((raw: unknown) => {
    const m = raw as { id?: unknown; learner?: unknown; address?: unknown };
    if (
      typeof m !== 'object' ||
      m === null ||
      typeof m.id !== 'string' ||
      m.id === '' ||
      typeof m.learner !== 'boolean' ||
      typeof m.address !== 'string' ||
      seen.has(m.id)
    ) {
      throw new MembershipFormatError(`invalid member ${JSON.stringify(raw)}`);
    }
    seen.add(m.id);
    return { id: m.id, learner: m.learner, address: m.address };
  });
}

/**
 * The history of configurations in the log: the base (from the snapshot, or the bootstrap one)
 * and one per Config entry after it. The configuration in force is the latest one in the log,
 * committed or not (thesis 4.1); removing entries from the log reverts to the one before.
 */
export class ConfigHistory {
  /** Each with the term of its entry: same index and term means the same entry (Log Matching). */
  private entries: { readonly m: Membership; readonly term: number }[] = [];

  constructor(private base: Membership) {}

  current(): Membership {
    return this.entries.at(-1)?.m ?? this.base;
  }

  /** The configuration in force once the log ended at index (for a snapshot taken there). */
  at(index: number): Membership {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if (e.m.index <= index) return e.m;
    }
    return this.base;
  }

  /**
   * Forgets the configurations at index >= from whose entries are no longer in the log
   * (`termAt` gives the term the log now holds at an index). Returns the first index after the
   * last configuration kept.
   */
  truncateFrom(from: number, termAt: (index: number) => number | undefined): number {
    for (let last = this.entries.at(-1); last !== undefined; last = this.entries.at(-1)) {
      if (last.m.index < from || termAt(last.m.index) === last.term)
        return Math.max(from, last.m.index + 1);
      this.entries.pop();
    }
    return from;
  }

  push(m: Membership, term: number): void {
    const last = this.current().index;
    if (m.index <= last)
      throw new Error(`raft invariant: configuration at ${m.index} after one at ${last}`);
    this.entries.push({ m, term });
  }

  /** Replaces everything by a snapshot's configuration. */
  reset(base: Membership): void {
    this.base = base;
    this.entries = [];
  }
}

/** What the leader knows when it checks a change, beyond the configuration itself. */
export interface ChangeContext {
  /** The configuration in force was committed (no change is in progress). */
  readonly configCommitted: boolean;
  /** The leader has committed an entry of its current term (thesis 4.1, the fix of 2015). */
  readonly termCommitted: boolean;
  /** Whether member id's log is within the promotion bound; explains why not otherwise. */
  readonly caughtUp: (id: NodeId) => true | string;
}

/**
 * Checks a single-server change against the configuration in force and returns the members it
 * results in. Throws MembershipChangeError, the core unchanged, when the change is refused.
 */
export function applyChange(
  current: Membership,
  change: MembershipChange,
  ctx: ChangeContext,
): MemberConfig[] {
  if (change.id === '') throw new MembershipChangeError('invalid', 'member id must not be empty');
  if (!ctx.configCommitted)
    throw new MembershipChangeError(
      'precondition',
      `the change at index ${current.index} is not committed yet (one change at a time)`,
    );
  if (!ctx.termCommitted)
    throw new MembershipChangeError(
      'precondition',
      'this leader has not committed an entry of its term yet; retry shortly',
    );
  const existing = memberOf(current, change.id);
  switch (change.type) {
    case 'addLearner':
    case 'addVoter': {
      if (existing) throw new MembershipChangeError('exists', `${change.id} is already a member`);
      const clash =
        change.address === ''
          ? undefined
          : current.members.find((m) => m.address === change.address);
      if (clash)
        throw new MembershipChangeError(
          'exists',
          `address ${change.address} is already member ${clash.id}'s`,
        );
      const learner = change.type === 'addLearner';
      return [...current.members, { id: change.id, learner, address: change.address }];
    }
    case 'promote': {
      if (!existing) throw new MembershipChangeError('not-found', `${change.id} is not a member`);
      if (!existing.learner)
        throw new MembershipChangeError('precondition', `${change.id} is already a voter`);
      const caughtUp = ctx.caughtUp(change.id);
      if (caughtUp !== true)
        throw new MembershipChangeError(
          'precondition',
          `${change.id} is not caught up: ${caughtUp}`,
        );
      return current.members.map((m) => (m.id === change.id ? { ...m, learner: false } : m));
    }
    case 'remove': {
      if (!existing) throw new MembershipChangeError('not-found', `${change.id} is not a member`);
      if (!existing.learner && votersOf(current).length === 1)
        throw new MembershipChangeError('precondition', `${change.id} is the last voter`);
      return current.members.filter((m) => m.id !== change.id);
    }
  }
}
