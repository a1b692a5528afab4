// The Quorum Lock client SDK. NestJS integration lives in ./nest (imported separately, so that
// plain Node programs do not load NestJS).
export {
  type AcquireOptions,
  type CampaignOptions,
  DEFAULT_WAIT_MS,
  MAX_WAIT_MS,
  QuorumLockClient,
  type StreamOptions,
  type WatchOptions,
} from './client.js';
export {
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  LockLostError,
  LockNotAcquiredError,
  NotElectedError,
  NotFoundError,
  PermissionDeniedError,
  QuorumLockError,
  UnauthenticatedError,
  UnavailableError,
} from './errors.js';
export { type Grant, Leadership, LeaseHandle, Lock, type RenewedEvent } from './handles.js';
export { safetyMarginMs } from './keepalive.js';
export type { CallOptions, RetryOptions, TlsOptions } from './connection.js';
export type {
  ClusterMembers,
  LeaderInfo,
  LeaseOptions,
  LockDescription,
  LockEvent,
  LockHolder,
  LockKindOptions,
  LockMode,
  MemberStatus,
  NewMember,
  NodeStatus,
  QuorumLockClientOptions,
} from './types.js';
