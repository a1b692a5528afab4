import type { PersistBatch } from '../storage.js';
import { EntryType, type Entry, type HardState, type SnapshotMeta } from '../types.js';

/**
 * What a write is checked against. Both storages keep the stored log contiguous and, when it is
 * not empty, reaching at least the snapshot index, so `lastIndex` is the snapshot index for an
 * empty log.
 */
export interface LogBounds {
  readonly snapshotIndex: number;
  readonly lastIndex: number;
}

/**
 * Thrown for a write the engine should never ask for. Nothing has been written when it is
 * thrown, so the storage stays usable (unlike after an I/O failure).
 */
export class InvalidWriteError extends Error {
  constructor(detail: string) {
    super(`invalid storage write: ${detail}`);
    this.name = 'InvalidWriteError';
  }
}

// Bound once: checked per entry, and a global lookup is slow in a vm context (Jest).
const { isSafeInteger } = Number;

function checkNumber(what: string, value: number): void {
  if (!isSafeInteger(value) || value < 0) {
    throw new InvalidWriteError(`${what} must be a non-negative safe integer, got ${value}`);
  }
}

function checkHardState(hardState: HardState): void {
  checkNumber('hard state term', hardState.term);
  checkNumber('hard state commit', hardState.commit);
  if (typeof hardState.vote !== 'string') {
    throw new InvalidWriteError('hard state vote must be a string');
  }
}

/** Checks the numbers of a snapshot's metadata. */
export function checkSnapshotMeta(meta: SnapshotMeta): void {
  checkNumber('snapshot index', meta.index);
  checkNumber('snapshot term', meta.term);
}

function checkSnapshotShape(meta: SnapshotMeta, currentSnapshotIndex: number): void {
  checkSnapshotMeta(meta);
  // An older snapshot would orphan log entries that were compacted into the newer one.
  if (meta.index < currentSnapshotIndex) {
    throw new InvalidWriteError(
      `snapshot at ${meta.index} is older than the stored one at ${currentSnapshotIndex}`,
    );
  }
}

function checkEntries(entries: readonly Entry[], bounds: LogBounds): void {
  const head = entries[0];
  if (head === undefined) return;
  const first = head.index;
  // Below the snapshot would rewrite compacted history; past lastIndex + 1 would leave a hole.
  if (first <= bounds.snapshotIndex || first > bounds.lastIndex + 1) {
    throw new InvalidWriteError(
      `entries start at ${first}, outside ${bounds.snapshotIndex + 1}..${bounds.lastIndex + 1}`,
    );
  }
  for (const [i, entry] of entries.entries()) {
    if (entry.index !== first + i) {
      throw new InvalidWriteError(
        `entries not contiguous: expected ${first + i}, got ${entry.index}`,
      );
    }
    checkNumber(`term of entry ${entry.index}`, entry.term);
    if (
      entry.type !== EntryType.Normal &&
      entry.type !== EntryType.Noop &&
      entry.type !== EntryType.Config
    ) {
      throw new InvalidWriteError(`entry ${entry.index} has unknown type ${String(entry.type)}`);
    }
    if (!(entry.data instanceof Uint8Array)) {
      throw new InvalidWriteError(`data of entry ${entry.index} must be a Uint8Array`);
    }
  }
}

/** Checks `batch` against the stored state and returns the bounds after it is applied. */
export function checkPersistBatch(
  batch: Pick<PersistBatch, 'hardState' | 'entries'> & { snapshot?: { meta: SnapshotMeta } },
  bounds: LogBounds,
): LogBounds {
  let after = bounds;
  if (batch.snapshot !== undefined) {
    checkSnapshotShape(batch.snapshot.meta, bounds.snapshotIndex);
    after = { snapshotIndex: batch.snapshot.meta.index, lastIndex: batch.snapshot.meta.index };
  }
  const lastEntry = batch.entries?.at(-1);
  if (batch.entries !== undefined && lastEntry !== undefined) {
    checkEntries(batch.entries, after);
    after = { ...after, lastIndex: lastEntry.index };
  }
  if (batch.hardState !== undefined) checkHardState(batch.hardState);
  return after;
}

export function checkLocalSnapshot(
  meta: SnapshotMeta,
  compactUpTo: number,
  bounds: LogBounds,
): void {
  checkSnapshotShape(meta, bounds.snapshotIndex);
  // A local snapshot covers applied entries, which are in the log; one past it would leave the
  // log unable to continue at snapshot.index + 1.
  if (meta.index > bounds.lastIndex) {
    throw new InvalidWriteError(
      `local snapshot at ${meta.index} is beyond the last log index ${bounds.lastIndex}`,
    );
  }
  checkNumber('compactUpTo', compactUpTo);
  if (compactUpTo > meta.index) {
    throw new InvalidWriteError(
      `compactUpTo ${compactUpTo} is beyond the snapshot index ${meta.index}`,
    );
  }
}
