// What RaftNode exposes for metrics beyond its counters: the types and the log-size estimate.
import type { Entry } from './types.js';

/** How a proposal ended, as counted in RaftNode's `counters.proposals`. */
export type ProposalOutcome = 'committed' | 'not_leader' | 'dropped' | 'lost' | 'failed';

/**
 * Per-event callbacks for metrics histograms. Called synchronously on the Raft loop, once per
 * proposal or storage write: they must be cheap and must not throw.
 */
export interface RaftNodeObserver {
  proposalCommitted?(seconds: number): void;
  /** A synced (fsync) storage write of `entries` entries. */
  storageWrite?(seconds: number, entries: number): void;
}

/** Rough per-entry storage overhead (index, term, type, checksum) for the log size estimate. */
const ENTRY_OVERHEAD_BYTES = 24;

/** Approximate stored bytes of entries; a loop rather than reduce() to allocate nothing. */
export function entriesBytes(entries: readonly Entry[]): number {
  let bytes = 0;
  for (const e of entries) bytes += e.data.byteLength + ENTRY_OVERHEAD_BYTES;
  return bytes;
}
