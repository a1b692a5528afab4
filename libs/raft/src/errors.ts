import type { NodeId } from './types.js';

/** The node cannot take this request because it is not (or no longer) the leader. */
export class NotLeaderError extends Error {
  constructor(
    /** The leader this node knows of, or '' when it knows none. */
    readonly leaderHint: NodeId,
    reason = 'not the leader',
  ) {
    super(leaderHint ? `${reason}; leader is ${leaderHint}` : `${reason}; no known leader`);
    this.name = 'NotLeaderError';
  }
}

/**
 * Leadership was lost while the proposal was in flight: it may or may not commit. Callers retry
 * with the same request id so that the state machine deduplicates.
 */
export class LeadershipLostError extends Error {
  constructor(readonly leaderHint: NodeId) {
    super('leadership lost before the proposal was applied; outcome unknown, retry idempotently');
    this.name = 'LeadershipLostError';
  }
}

/** Back-pressure: too much is uncommitted or queued; retry later. */
export class ProposalDroppedError extends Error {
  constructor(reason: string) {
    super(`proposal dropped: ${reason}`);
    this.name = 'ProposalDroppedError';
  }
}

/**
 * Leadership cannot be handed to this member now: the leader has not heard from it within an
 * election timeout (it is down or cut off). Nothing changed; the leader keeps serving.
 */
export class TransferNotPossibleError extends Error {
  constructor(
    readonly target: NodeId,
    reason: string,
  ) {
    super(`cannot transfer leadership to ${target}: ${reason}`);
    this.name = 'TransferNotPossibleError';
  }
}

/**
 * A membership change the leader refuses, changing nothing. `code` says why, for callers that
 * map it to their own errors: `invalid` (a malformed request), `exists` (the id or address is
 * already a member's), `not-found` (no such member, or not a learner), `precondition` (another
 * change is in progress, the leader has not committed an entry of its term yet, the learner is
 * not caught up, or the change would leave no voter).
 */
export class MembershipChangeError extends Error {
  constructor(
    readonly code: 'invalid' | 'exists' | 'not-found' | 'precondition',
    reason: string,
  ) {
    super(`membership change refused: ${reason}`);
    this.name = 'MembershipChangeError';
  }
}
