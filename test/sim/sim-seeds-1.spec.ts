import { runSeedRange } from './replay.js';

// Seeds 1-1000 of the 2,000 that CI runs; split in files so jest runs them in parallel.
test('safety and recovery hold for simulation seeds 1-1000', () => {
  const results = runSeedRange(1, 1000);
  // The runs must exercise the system, not idle: writes were acknowledged and faults injected.
  const acked = results.reduce((s, r) => s + r.stats.acked, 0);
  const crashes = results.reduce((s, r) => s + r.stats.crashes, 0);
  const snapshots = results.reduce((s, r) => s + r.stats.snapshotsSent, 0);
  expect(acked).toBeGreaterThan(100_000);
  expect(crashes).toBeGreaterThan(500);
  expect(snapshots).toBeGreaterThan(500);
});
