// Injection tokens shared by the gRPC and HTTP layers: interfaces have no runtime identity.

/** The LockApi the controllers call (a LockNode in production, a fake in tests). */
export const LOCK_API = Symbol('LockApi');
/** The process's pino Logger. */
export const LOGGER = Symbol('Logger');
