import { addStats, emptyStats } from './raft-cluster.js';
import { runSeed, type SimResult } from './scenario.js';

export function replayCommand(seed: number): string {
  return `npm run build && npm run sim -- --seed ${seed} --trace`;
}

/** Runs seeds [first, first + count); a failure names the seed and the command that replays it. */
export async function runSeedRange(first: number, count: number): Promise<SimResult[]> {
  const results: SimResult[] = [];
  for (let seed = first; seed < first + count; seed++) {
    try {
      results.push(await runSeed({ seed }));
    } catch (e) {
      throw new Error(
        `simulation seed ${seed} failed: ${(e as Error).stack}\nreplay: ${replayCommand(seed)}`,
      );
    }
  }
  return results;
}

/** Runs seeds and checks the runs exercised the system rather than idled. */
export async function checkSeedRange(first: number, count: number): Promise<void> {
  const totals = emptyStats();
  for (const r of await runSeedRange(first, count)) addStats(totals, r.stats);
  expect(totals.acked).toBeGreaterThan(100 * count);
  expect(totals.crashes).toBeGreaterThan(count / 2);
  expect(totals.freezes).toBeGreaterThan(count / 2);
  expect(totals.snapshotsSent).toBeGreaterThan(count / 2);
  expect(totals.membershipChanges).toBeGreaterThan(count);
}

/** [first, last] pairs covering count seeds from first, size at a time. */
export function seedChunks(first: number, count: number, size: number): [number, number][] {
  const chunks: [number, number][] = [];
  for (let s = first; s < first + count; s += size)
    chunks.push([s, Math.min(s + size, first + count) - 1]);
  return chunks;
}
