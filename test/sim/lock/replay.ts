// Runs ranges of lock-service simulation seeds for the tests: the first violation fails with
// the seed and the command that replays it, and the runs must have exercised every check.
import { type LockSimResult, runLockSeed } from './scenario.js';

export function lockReplayCommand(seed: number): string {
  return `npm run build && npm run sim:lock -- --seed ${seed} --trace`;
}

/** Items each check examined, per seed at least, summed over a range (so a silent check fails). */
const FLOORS_PER_SEED: Record<string, number> = {
  'mutual-exclusion': 5,
  'fenced-store': 10,
  'no-early-expiry': 2,
  'abandoned-bound': 0.3,
  'live-grants': 5,
  'retry-one-grant': 5,
  'no-orphan-grant': 5,
  streams: 2,
  'reads-linearizable': 5,
  'clock-monotonic': 30,
  'lease-ownership': 3,
};

export async function checkLockSeedRange(first: number, count: number): Promise<LockSimResult[]> {
  const results: LockSimResult[] = [];
  const totals: Record<string, number> = {};
  for (let seed = first; seed < first + count; seed++) {
    let r: LockSimResult;
    try {
      r = await runLockSeed({ seed });
    } catch (e) {
      throw new Error(
        `lock simulation seed ${seed} failed: ${(e as Error).stack}\nreplay: ${lockReplayCommand(seed)}`,
      );
    }
    if (r.report.violations.length > 0)
      throw new Error(
        `lock simulation seed ${seed}: ${r.report.violations
          .slice(0, 5)
          .map((v) => `[${v.property}] ${v.detail}`)
          .join('\n')}\nreplay: ${lockReplayCommand(seed)}`,
      );
    for (const [k, v] of Object.entries(r.report.examined)) totals[k] = (totals[k] ?? 0) + v;
    results.push(r);
  }
  const thin = Object.entries(FLOORS_PER_SEED)
    .filter(([check, floor]) => (totals[check] ?? 0) < Math.floor(floor * count))
    .map(([check, floor]) => `${check}: ${totals[check] ?? 0} < ${Math.floor(floor * count)}`);
  const changes = results.flatMap((r) => r.faults.filter((f) => f.includes(' membership: ')));
  if (changes.length < count) thin.push(`membership changes: ${changes.length} < ${count}`);
  if (thin.length > 0)
    throw new Error(`seeds ${first}-${first + count - 1} examined too little: ${thin.join('; ')}`);
  return results;
}
