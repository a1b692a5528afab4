/**
 * Domain errors carry the gRPC status code they map to, so that controllers stay thin and every
 * transport (gRPC, forwarding between nodes) reports them the same way.
 */
export enum Code {
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  FAILED_PRECONDITION = 9,
  RESOURCE_EXHAUSTED = 8,
  ABORTED = 10,
  UNAVAILABLE = 14,
  UNAUTHENTICATED = 16,
}

export class DomainError extends Error {
  constructor(
    readonly code: Code,
    message: string,
  ) {
    super(message);
    this.name = `DomainError(${Code[code]})`;
  }
}

export const invalidArgument = (field: string, why: string) =>
  new DomainError(Code.INVALID_ARGUMENT, `${field}: ${why}`);

export const leaseNotFound = () =>
  new DomainError(Code.NOT_FOUND, 'lease expired or released: its locks are lost');

export const unavailable = (why: string) =>
  new DomainError(Code.UNAVAILABLE, `${why}; retry with the same request_id`);

/**
 * The caller may not do `action` on `name` (a lock, an election, a prefix, or a lease). The
 * message names both, never what the name holds.
 */
export const permissionDenied = (action: string, name: string, why: string) =>
  new DomainError(Code.PERMISSION_DENIED, `permission denied: ${action} on ${name}: ${why}`);

/** A lease used by an identity other than the one that created it (and not an admin). */
export const notLeaseOwner = (action: string, leaseId: string) =>
  permissionDenied(action, `lease ${leaseId}`, 'the lease belongs to another identity');

export const exhausted = (what: string) => new DomainError(Code.RESOURCE_EXHAUSTED, what);

/**
 * A Watch or Observe stream that cannot go on without a gap: the node serving it caught up by
 * snapshot, so changes in between were never applied there. Clients re-read and subscribe again.
 */
export const compacted = () =>
  new DomainError(
    Code.ABORTED,
    'this node caught up by snapshot and skipped changes in between: re-read the state and subscribe again',
  );
