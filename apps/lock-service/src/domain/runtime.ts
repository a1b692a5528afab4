import { randomBytes } from 'node:crypto';

// Time and timers are the Raft engine's port: the node runs its Raft and its own duties on one
// clock, which a simulator replaces.
export { type Runtime, systemRuntime, type Timer } from '../../../../libs/raft/src/index.js';

/** Lease ids and server-made request ids: 16 hex digits, unique in practice. */
export interface IdSource {
  next(): string;
}

export const randomIds: IdSource = { next: () => randomBytes(8).toString('hex') };
