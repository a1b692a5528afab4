import type { PersistBatch } from './storage.js';
import type { Membership } from './membership.js';
import type { Entry, HardState, Message, NodeId, Role, Snapshot } from './types.js';

export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId;
  readonly term: number;
}

/** A ReadIndex round confirmed by a quorum: serve read `id` once applied >= index. */
export interface ReadState {
  readonly id: number;
  readonly index: number;
}

/**
 * One batch of work the core hands its driver. The driver must, in this order: persist
 * hardState, snapshot and entries in one synced write; then send messages; then restore the
 * snapshot and apply committedEntries; then call advance(ready).
 */
export interface Ready {
  readonly softState?: SoftState;
  /** The configuration in force changed (a Config entry appended or removed, or a snapshot). */
  readonly membership?: Membership;
  readonly hardState?: HardState;
  readonly snapshot?: Snapshot;
  readonly entries: Entry[];
  readonly messages: Message[];
  readonly committedEntries: Entry[];
  readonly readStates: ReadState[];
  /** ReadIndex requests the core gave up on (leadership lost): fail them. */
  readonly droppedReads: number[];
}

/**
 * Whether rd must be fsynced: a new term, vote, entries or snapshot. A commit index alone need
 * not be: losing it only makes a restarted node learn it again.
 */
export function mustSync(rd: Ready, prev: { term: number; vote: string }): boolean {
  const hs = rd.hardState;
  return (
    rd.entries.length > 0 ||
    rd.snapshot !== undefined ||
    (hs !== undefined && (hs.term !== prev.term || hs.vote !== prev.vote))
  );
}

/**
 * Messages a leader may send before its own write completes (Raft thesis 10.2.1): its
 * AppendEntries go out while it fsyncs, since it counts its own entries only once durable and
 * its term was made durable when it campaigned. Answers and votes always wait for the write.
 */
export function sendsBeforePersist(m: Message): boolean {
  return (
    m.type === 'AppendEntries' ||
    m.type === 'Heartbeat' ||
    m.type === 'InstallSnapshot' ||
    m.type === 'TimeoutNow'
  );
}

/**
 * What a driver does with the parts of a Ready. handleReady calls these in the order the
 * contract requires, so that every driver (RaftNode, the core tests' harness) shares one
 * encoding of it.
 */
export interface ReadyHandler {
  /** A change of role, leader or term, before anything else of the Ready. */
  softState?(s: SoftState): void;
  /** A new configuration in force, before any message goes out (new members need addresses). */
  membership?(m: Membership): void;
  /** Sends one message; never blocks. */
  send(m: Message): void;
  /**
   * Makes the Ready's hardState, snapshot and entries durable in one atomic write; `sync` is
   * false only when the commit index alone changed. A driver with asynchronous storage returns
   * a promise, and the rest of the Ready waits for it.
   */
  persist(batch: PersistBatch): void | Promise<void>;
  /** Asked once the write completed: true abandons the rest of the Ready (the driver stopped). */
  stopped?(): boolean;
  /**
   * Replaces the state machine with a snapshot received from the leader (already persisted). A
   * driver that restores asynchronously returns a promise; the committed entries wait for it.
   */
  restore(snapshot: Snapshot): void | Promise<void>;
  /** Applies one committed entry (in log order). */
  apply(entry: Entry): void;
  /** ReadIndex requests the core gave up on, then those confirmed (serve at `index`). */
  reads(dropped: readonly number[], confirmed: readonly ReadState[]): void;
}

/** The core's side of the exchange: handleReady acknowledges the Ready with advance(). */
export interface ReadySource {
  advance(rd: Ready): void;
}

/**
 * Carries out rd: softState; the messages that may precede the write (sendsBeforePersist);
 * the write, waited for (unless it only moves the commit index); the other messages; the
 * snapshot, waited for, and the committed entries; the reads; then core.advance(rd). `persisted` is the last durable term and vote,
 * which decide whether the write must be synced. Returns a promise only if persist or restore
 * did.
 */
export function handleReady(
  core: ReadySource,
  rd: Ready,
  persisted: { term: number; vote: string },
  h: ReadyHandler,
): void | Promise<void> {
  if (rd.softState) h.softState?.(rd.softState);
  if (rd.membership) h.membership?.(rd.membership);
  for (const m of rd.messages) if (sendsBeforePersist(m)) h.send(m);
  const sync = mustSync(rd, persisted);
  const written =
    rd.hardState || rd.snapshot || rd.entries.length > 0
      ? h.persist({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot, sync })
      : undefined;
  if (!written) return finishReady(core, rd, h);
  if (sync) return written.then(() => finishReady(core, rd, h));
  // Only the commit index is written: nothing else in this Ready waits for it. Its committed
  // entries were made durable here by earlier Readys and on a quorum, and its messages claim
  // nothing about the commit index being stored (a node that loses it learns it again). So the
  // leader applies, and answers its client, while the write runs; the next Ready still waits.
  const finished = finishReady(core, rd, h);
  return finished ? Promise.all([written, finished]).then(() => undefined) : written;
}

function finishReady(core: ReadySource, rd: Ready, h: ReadyHandler): void | Promise<void> {
  if (h.stopped?.()) return;
  for (const m of rd.messages) if (!sendsBeforePersist(m)) h.send(m);
  const restored = rd.snapshot ? h.restore(rd.snapshot) : undefined;
  if (restored) return restored.then(() => applyCommitted(core, rd, h));
  applyCommitted(core, rd, h);
}

function applyCommitted(core: ReadySource, rd: Ready, h: ReadyHandler): void {
  if (h.stopped?.()) return;
  for (const e of rd.committedEntries) h.apply(e);
  if (rd.droppedReads.length > 0 || rd.readStates.length > 0)
    h.reads(rd.droppedReads, rd.readStates);
  core.advance(rd);
}
