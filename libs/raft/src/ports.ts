import type { Entry, Message, NodeId, Snapshot, SnapshotMeta } from './types.js';

/**
 * The application's replicated state machine. apply() is called once per committed entry, in
 * log order, on every node; it must be deterministic and must not throw for any command.
 *
 * Snapshots are streams, so that a large state is never one buffer nor one long synchronous
 * stretch: the driver pulls one chunk, then lets the event loop run, then pulls the next.
 */
export interface StateMachine<R = unknown> {
  /** Applies a committed entry (Noop entries too: they mark a new leader's term). */
  apply(entry: Entry): R;
  /**
   * A point-in-time view of the state as of the last applied entry, serialised lazily, chunk by
   * chunk, as the driver iterates it. The driver keeps calling apply() while it iterates (across
   * many turns of the event loop), so the view must not see those changes: the state machine
   * captures the state when snapshot() is called (copy-on-write, an immutable structure, or a
   * copy) and the iterator serialises that capture. The driver takes the first chunk in the same
   * turn as the call, so a generator method that captures before its first yield works too.
   * Each chunk should take little time to make (a millisecond or so) and be modest in size (up
   * to about 1 MiB); how the state is cut into chunks is the state machine's choice, and the
   * bytes are its own versioned format. The driver may stop iterating early (it calls return()):
   * the view should then be released.
   */
  snapshot(): Iterable<Uint8Array>;
  /**
   * Replaces the whole state with a snapshot's, read from `chunks` (the bytes snapshot()
   * produced, possibly cut differently). The driver yields to the event loop between chunks and
   * calls nothing else on the state machine until the promise settles, but the application may
   * still read the state meanwhile: build the new state aside and switch to it at the end. Each
   * chunk should be processed quickly. A rejection (corrupt or unreadable data) stops the node.
   */
  restore(chunks: AsyncIterable<Uint8Array>, meta: SnapshotMeta): Promise<void>;
}

/** How a RaftNode reaches its peers; GrpcTransport implements it. */
export interface Transport {
  start(): Promise<void>;
  /** Never throws and never blocks; may drop (Raft tolerates loss). */
  send(msg: Message): void;
  onMessage(handler: (msg: Message) => void): void;
  onUnreachable(handler: (peer: NodeId) => void): void;
  onSnapshotStatus(handler: (peer: NodeId, ok: boolean) => void): void;
  /**
   * The members' addresses as a configuration in force gives them: reach each peer listed there
   * from now on (peers not listed keep their address). Optional: a transport whose peers need no
   * addresses (a simulated one) leaves it out.
   */
  updatePeers?(addresses: Readonly<Record<NodeId, string>>): void;
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
