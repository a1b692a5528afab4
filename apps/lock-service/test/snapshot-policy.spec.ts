import { RECORDS_PER_ENTRY, snapshotDue } from '../src/domain/snapshot-policy.js';

/**
 * Applies `entries` entries, each adding `perEntry` records (2 for an acquire that creates a
 * lease and its lock; 0 for a renewal), snapshotting whenever due. Reports the longest log and
 * the most records one snapshot wrote per entry it replaced.
 */
function run(startRecords: number, entries: number, perEntry: number, minEntries: number) {
  let records = startRecords;
  let since = 0;
  let snapshots = 0;
  let longestLog = 0;
  let worstRecordsPerEntry = 0;
  for (let i = 0; i < entries; i++) {
    records += perEntry;
    since++;
    longestLog = Math.max(longestLog, since);
    if (snapshotDue(since, records, minEntries)) {
      worstRecordsPerEntry = Math.max(worstRecordsPerEntry, records / since);
      snapshots++;
      since = 0;
    }
  }
  return { snapshots, longestLog, worstRecordsPerEntry, records };
}

describe('snapshot policy', () => {
  test('a growing state is snapshotted, its log staying a fraction of the state', () => {
    // One acquire per entry, from empty to a million leases (two million records).
    const r = run(0, 1_000_000, 2, 10_000);
    expect(r.snapshots).toBeGreaterThanOrEqual(10);
    expect(r.longestLog).toBeLessThanOrEqual(r.records / RECORDS_PER_ENTRY + 1);
    expect(r.worstRecordsPerEntry).toBeLessThanOrEqual(RECORDS_PER_ENTRY);
  });

  test('a steady state (renewals only) snapshots every records/8 entries', () => {
    const r = run(2_000_000, 2_000_000, 0, 10_000);
    expect(r.snapshots).toBe(8);
    expect(r.longestLog).toBe(250_000);
  });

  test('a small state snapshots every --snapshot-entries', () => {
    const r = run(100, 100_000, 0, 10_000);
    expect(r.snapshots).toBe(10);
    expect(r.longestLog).toBe(10_000);
  });
});
