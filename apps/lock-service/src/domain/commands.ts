// Commands of the replicated state machine. The leader fills in everything that is not
// deterministic (new lease ids, its wall clock for dedup retention, its limits), so that every
// node applies exactly the same thing.

export type MutexKind = 'lock' | 'election';

interface Stamped {
  /** Leader's wall clock (ms) when proposing: drives only dedup retention. */
  readonly t: number;
}

export interface AcquireCmd extends Stamped {
  readonly op: 'acquire';
  readonly kind: MutexKind;
  readonly name: string;
  readonly owner: string;
  readonly value: string;
  readonly ttl_ms: number;
  readonly wait: boolean;
  readonly request_id: string;
  /** Existing lease to use, or '' to create new_lease_id. */
  readonly lease_id: string;
  readonly new_lease_id: string;
  readonly max_leases: number;
  readonly max_waiters: number;
}

export interface CancelWaitCmd extends Stamped {
  readonly op: 'cancel_wait';
  readonly kind: MutexKind;
  readonly name: string;
  readonly request_id: string;
}

export interface RenewCmd extends Stamped {
  readonly op: 'renew';
  /** Renewals that must go through the log, batched: one entry per turn of the event loop. */
  readonly lease_ids: readonly string[];
}

export interface ReleaseCmd extends Stamped {
  readonly op: 'release';
  readonly kind: MutexKind;
  readonly lease_id: string;
  /** '' releases the whole lease and everything it holds or waits for. */
  readonly name: string;
}

export interface ExpireCmd extends Stamped {
  readonly op: 'expire';
  readonly lease_id: string;
  /** The lease's renewal sequence the leader saw: a renewal since makes this a no-op. */
  readonly seq: number;
}

export interface CheckpointCmd extends Stamped {
  readonly op: 'checkpoint';
  /** [lease id, remaining ms, renewal sequence] */
  readonly leases: readonly (readonly [string, number, number])[];
}

export interface ProclaimCmd extends Stamped {
  readonly op: 'proclaim';
  readonly name: string;
  readonly lease_id: string;
  readonly value: string;
}

export interface MemberCmd extends Stamped {
  readonly op: 'member';
  readonly id: string;
  readonly client_address: string;
}

export type Command =
  | AcquireCmd
  | CancelWaitCmd
  | RenewCmd
  | ReleaseCmd
  | ExpireCmd
  | CheckpointCmd
  | ProclaimCmd
  | MemberCmd;

export function encodeCommand(c: Command): Uint8Array {
  return Buffer.from(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): Command {
  return JSON.parse(
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString(),
  ) as Command;
}

/** What applying a command returns to the node that proposed it. */
export type ApplyResult =
  | { status: 'granted'; lease_id: string; token: number; ttl_ms: number }
  | { status: 'held'; holder: string }
  | { status: 'queued'; lease_id: string; ttl_ms: number }
  | { status: 'lease_not_found' }
  | { status: 'not_holder' }
  | { status: 'exhausted'; what: string }
  | { status: 'ok'; released?: boolean; missing?: string[] }
  | { status: 'ignored' };

/** A command before the leader stamps its clock on it. */
export type UnstampedCommand = Command extends infer C
  ? C extends Command
    ? Omit<C, 't'>
    : never
  : never;
