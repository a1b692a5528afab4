import type { Entry, Message, NodeId, Snapshot, SnapshotMeta } from './types.js';

/**
 * The application's replicated state machine. apply() is called once per committed entry, in
 * log order, on every node; it must be deterministic and must not throw for any command.
 */
export interface StateMachine<R = unknown> {
  /** Applies a committed entry (Noop entries too: they mark a new leader's term). */
  apply(entry: Entry): R;
  /** Serialises the state as of the last applied entry. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's. */
  restore(data: Uint8Array, meta: SnapshotMeta): void;
}

/** How a RaftNode reaches its peers; GrpcTransport implements it. */
export interface Transport {
  start(): Promise<void>;
  /** Never throws and never blocks; may drop (Raft tolerates loss). */
  send(msg: Message): void;
  onMessage(handler: (msg: Message) => void): void;
  onUnreachable(handler: (peer: NodeId) => void): void;
  onSnapshotStatus(handler: (peer: NodeId, ok: boolean) => void): void;
  stop(): Promise<void>;
}

export type SnapshotSource = () => Promise<Snapshot | null>;

/** A scheduled callback; cancel() after it ran, or twice, does nothing. */
export interface Timer {
  cancel(): void;
}

/**
 * Local monotonic time in ms, and timers: the driver's only access to time, so that a simulator
 * can run it on virtual time (and a drifting, pausing clock) from one seed.
 */
export interface Runtime {
  now(): number;
  /** Runs fn after ms (like setTimeout). */
  after(ms: number, fn: () => void): Timer;
  /** Runs fn on a later turn, after what is already pending (like setImmediate). */
  soon(fn: () => void): void;
}

/** The process's own clock and timers. */
export const systemRuntime: Runtime = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  soon: (fn) => {
    setImmediate(fn);
  },
};
