import type { LockEventType } from './api.js';

/** What applying an entry changed, for streams, waiting requests and the lease clock. */
export type SmEvent =
  /** A lock was granted, released or expired; lease_id is its holder's lease. */
  | {
      type: 'lock';
      name: string;
      event: LockEventType;
      owner: string;
      token: number;
      lease_id: string;
      /** The hold was SHARED. */
      shared?: true;
    }
  | {
      type: 'election';
      name: string;
      leader: { candidate: string; value: string; token: number; lease_id: string } | null;
    }
  | {
      type: 'waiter_done';
      request_id: string;
      lease_id: string;
      granted: boolean;
      token?: number;
      ttl_ms?: number;
      holder?: string;
      /** The waiter's lease expired or was released while it waited. */
      lost?: boolean;
    }
  /**
   * A command entry is being applied (the events that follow are its effects); clock is the
   * lease clock after its stamp.
   */
  | { type: 'stamp'; clock: number; term: number; index: number }
  /** A lease was created or renewed: it now expires at expires_at on the lease clock. */
  | { type: 'lease'; lease_id: string; expires_at: number }
  | { type: 'lease_gone'; lease_id: string; expired: boolean; holds: string[] }
  | { type: 'leader_term'; term: number }
  /** A member's client address, as followers forward calls to it. */
  | { type: 'member'; id: string; client_address: string }
  | { type: 'restored' };
