import { randomBytes } from 'node:crypto';

// Time and timers are the Raft engine's port: the node runs its Raft and its own duties on one
// clock, which a simulator replaces.
export { type Runtime, systemRuntime, type Timer } from '../../../../libs/raft/src/index.js';

/** Lease ids and server-made request ids: 16 hex digits, unique in practice. */
export interface IdSource {
  next(): string;
}

/** Random bytes drawn 4 KiB at a time: one call to the CSPRNG per 512 ids, not one per id. */
class PooledRandomIds implements IdSource {
  private pool = Buffer.alloc(0);
  private at = 0;

  next(): string {
    if (this.at + 8 > this.pool.length) {
      this.pool = randomBytes(4096);
      this.at = 0;
    }
    const id = this.pool.toString('hex', this.at, this.at + 8);
    this.at += 8;
    return id;
  }
}

export const randomIds: IdSource = new PooledRandomIds();
