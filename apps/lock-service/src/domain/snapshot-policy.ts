// When a node snapshots its lock state. A snapshot writes every record (lease, lock, election,
// retry); the log it replaces holds every entry since the last one, in memory on every node. The
// interval grows with the state so that a snapshot's cost per entry stays bounded (at most
// RECORDS_PER_ENTRY records written per entry applied), and it is a fraction of the state so
// that the log's memory stays a fraction of the state's, including while the state grows (one
// acquire adds two records: a lease and its lock).

/** Records a snapshot may write per entry applied since the previous one. */
export const RECORDS_PER_ENTRY = 8;

/**
 * Due once `since` entries have applied since the last snapshot and they are at least
 * `minEntries` (--snapshot-entries) and at least 1/RECORDS_PER_ENTRY of the `records` held.
 */
export function snapshotDue(since: number, records: number, minEntries: number): boolean {
  return since >= Math.max(minEntries, records / RECORDS_PER_ENTRY);
}
