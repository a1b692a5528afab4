import { runSeed, type SimResult } from './scenario.js';

export function replayCommand(seed: number): string {
  return `npm run build && npm run sim -- --seed ${seed} --trace`;
}

/** Runs seeds [first, first + count); a failure names the seed and the command that replays it. */
export function runSeedRange(first: number, count: number): SimResult[] {
  const results: SimResult[] = [];
  for (let seed = first; seed < first + count; seed++) {
    try {
      results.push(runSeed({ seed }));
    } catch (e) {
      throw new Error(
        `simulation seed ${seed} failed: ${(e as Error).stack}\nreplay: ${replayCommand(seed)}`,
      );
    }
  }
  return results;
}
