// Typed errors, so that callers branch on classes instead of raw gRPC status numbers.
import { status, type ServiceError } from '@grpc/grpc-js';

/** Base class: `code` is the gRPC status code (grpc.status) that best describes the failure. */
export class QuorumLockError extends Error {
  constructor(
    readonly code: status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** The status code's name, e.g. 'UNAVAILABLE'. */
  get codeName(): string {
    return status[this.code] ?? String(this.code);
  }
}

/** The request was malformed (a name, a TTL above an hour, a lease id that is not one). */
export class InvalidArgumentError extends QuorumLockError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(status.INVALID_ARGUMENT, message, options);
  }
}

/** The lease is unknown to the cluster: it expired or was released. */
export class NotFoundError extends QuorumLockError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(status.NOT_FOUND, message, options);
  }
}

/** No node could serve the call within the retry budget; the outcome may be unknown. */
export class UnavailableError extends QuorumLockError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(status.UNAVAILABLE, message, options);
  }
}

/** The call's deadline passed before it completed. */
export class DeadlineExceededError extends QuorumLockError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(status.DEADLINE_EXCEEDED, message, options);
  }
}

/** The server runs with --auth-config and the call carried no credentials it knows. */
export class UnauthenticatedError extends QuorumLockError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(status.UNAUTHENTICATED, message, options);
  }
}

/**
 * The caller's identity may not do this: its roles grant no such action on the name, or the
 * lease belongs to another identity.
 */
export class PermissionDeniedError extends QuorumLockError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(status.PERMISSION_DENIED, message, options);
  }
}

/** The request conflicts with the state: a semaphore's limit other than the one in force. */
export class FailedPreconditionError extends QuorumLockError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(status.FAILED_PRECONDITION, message, options);
  }
}

/** acquire() gave up: the lock stayed held (by `holder`) for the whole wait. */
export class LockNotAcquiredError extends QuorumLockError {
  constructor(
    readonly lockName: string,
    readonly holder: string,
    message = `lock ${JSON.stringify(lockName)} is held by ${JSON.stringify(holder)}`,
  ) {
    super(status.ABORTED, message);
  }
}

/** campaign() gave up: another candidate stayed leader for the whole wait. */
export class NotElectedError extends LockNotAcquiredError {
  constructor(election: string) {
    super(election, '', `not elected in ${JSON.stringify(election)} within the wait`);
  }
}

/**
 * A lock or leadership is lost (or could be: its renewal was not confirmed in time). `code` is
 * NOT_FOUND when the cluster said the lease is gone, DEADLINE_EXCEEDED when the client stopped
 * claiming it because renewals went unanswered.
 */
export class LockLostError extends QuorumLockError {
  constructor(
    readonly lockName: string,
    readonly fencingToken: bigint,
    readonly leaseId: string,
    code: status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && typeof (e as Partial<ServiceError>).code === 'number';
}

/** Maps a grpc-js error to the matching typed error; anything else passes through. */
export function fromGrpcError(e: unknown): unknown {
  if (e instanceof QuorumLockError || !isServiceError(e)) return e;
  const message = e.details || e.message;
  switch (e.code) {
    case status.INVALID_ARGUMENT:
      return new InvalidArgumentError(message, { cause: e });
    case status.NOT_FOUND:
      return new NotFoundError(message, { cause: e });
    case status.UNAVAILABLE:
      return new UnavailableError(message, { cause: e });
    case status.DEADLINE_EXCEEDED:
      return new DeadlineExceededError(message, { cause: e });
    case status.UNAUTHENTICATED:
      return new UnauthenticatedError(message, { cause: e });
    case status.PERMISSION_DENIED:
      return new PermissionDeniedError(message, { cause: e });
    case status.FAILED_PRECONDITION:
      return new FailedPreconditionError(message, { cause: e });
    default:
      return new QuorumLockError(e.code, message, { cause: e });
  }
}
