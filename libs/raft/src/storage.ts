import type { Entry, HardState, Snapshot, SnapshotData, SnapshotMeta } from './types.js';

/** Everything a node needs to restart: hard state, latest snapshot, and the log after it. */
export interface PersistentState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** Contiguous entries starting at snapshot.index + 1 (or 1 without a snapshot). */
  readonly entries: Entry[];
}

/** One durable write: the persistent part of a Ready. */
export interface PersistBatch {
  readonly hardState?: HardState;
  /**
   * Entries to append. Any stored entry with index >= entries[0].index is replaced or removed
   * first (a follower overwriting a conflicting suffix).
   */
  readonly entries?: readonly Entry[];
  /**
   * A snapshot received from the leader, its data staged by this storage's receiveSnapshot:
   * becomes the stored snapshot and replaces the whole log. Applied before `entries`.
   */
  readonly snapshot?: Snapshot;
  /**
   * Default true. False only for a batch that merely advances the commit index: losing it in a
   * crash is harmless (the commit index is re-learned from the leader), so it needs no fsync.
   */
  readonly sync?: boolean;
}

/**
 * The storage port of the Raft driver. Every write is synced (fsync) before its promise
 * resolves: a node persists before it speaks. The core never calls this; the driver does.
 */
export interface Storage {
  /**
   * Reads everything back at start-up (the snapshot as its data's handle: the bytes are read,
   * and checked, as the state machine restores them); fails clearly on a corrupt or torn log,
   * or a snapshot with chunks missing. A commit index
   * past the stored log is refused as well: by a storage that can name its place on disk, and
   * by RaftCore for any storage (see checkCommitStored).
   */
  load(): Promise<PersistentState>;
  /** One synced, atomic write batch (group commit of a whole Ready). */
  save(batch: PersistBatch): Promise<void>;
  /**
   * Stores a snapshot the local state machine took at `meta`: writes the chunks as `chunks`
   * yields them (pulling the next only once the previous one is written, so the source sets the
   * pace and memory holds about one chunk), then, in one synced batch, makes it the stored
   * snapshot, deletes log entries with index <= compactUpTo (at most meta.index) and deletes the
   * previous snapshot. Until that batch the previous snapshot stays whole, whatever happens: a
   * crash, or `chunks` throwing (what was written is then deleted and the error rethrown).
   * Other writes go on meanwhile, in their own order. Resolves false, having stored nothing, if
   * a newer snapshot (one received from the leader) was stored in the meantime.
   */
  saveSnapshot(
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
    compactUpTo: number,
  ): Promise<boolean>;
  /**
   * Writes a snapshot arriving from the leader to a staging area as its chunks come (the same
   * pace and memory as saveSnapshot) and resolves with its data once all are written. Nothing
   * changes until a save() batch carries it: that makes it the stored snapshot. A restart
   * forgets what was staged; so does `chunks` throwing (the error is rethrown).
   */
  receiveSnapshot(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<SnapshotData>;
  /**
   * Deletes a received snapshot that will not be installed (the core refused it). Does nothing
   * for any other data: the stored snapshot, or one already installed or discarded.
   */
  discardSnapshot(data: SnapshotData): Promise<void>;
  /** The latest stored snapshot, for sending to a follower that is behind. */
  readSnapshot(): Promise<Snapshot | null>;
  close(): Promise<void>;
}

export class StorageCorruptionError extends Error {
  constructor(
    readonly nodeId: string,
    readonly location: string,
    readonly index: number | null,
    detail: string,
  ) {
    super(
      `storage corruption on node ${nodeId} in ${location}` +
        (index === null ? '' : ` at log index ${index}`) +
        `: ${detail}; refusing to serve`,
    );
    this.name = 'StorageCorruptionError';
  }
}

/**
 * Throws unless the stored log (the snapshot counts) reaches the stored commit index. Entries up
 * to it were acknowledged as durable; a node that lost them must not serve, nor vote, without
 * them: an operator restores this node's data (or replaces the node).
 */
export function checkCommitStored(
  nodeId: string,
  location: string,
  commit: number,
  lastStoredIndex: number,
): void {
  if (commit <= lastStoredIndex) return;
  throw new StorageCorruptionError(
    nodeId,
    location,
    lastStoredIndex + 1,
    `commit index ${commit} is beyond the last stored index ${lastStoredIndex}, so committed entries were lost`,
  );
}
