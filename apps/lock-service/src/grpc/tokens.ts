// Injection tokens shared by the gRPC and HTTP layers: interfaces have no runtime identity.

/** The LockApi the controllers call (a LockNode in production, a fake in tests). */
export const LOCK_API = Symbol('LockApi');
/** The process's pino Logger. */
export const LOGGER = Symbol('Logger');
/** The AccessControl that admits each call on the client plane. */
export const ACCESS_CONTROL = Symbol('AccessControl');
/** The ClusterView the live view reads (a LockNode's); absent, the gateway offers no view. */
export const CLUSTER_VIEW = Symbol('ClusterView');
