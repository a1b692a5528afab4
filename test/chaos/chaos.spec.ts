// The short chaos schedule `npm test` runs (about 3 minutes): real `quorumlock serve` processes
// (the built code: npm run build first), faults from a seeded schedule, and every check of the
// checker on the history. The two seeds were chosen so that together they cover every fault
// kind; CHAOS_SEED runs another. Any violation fails with the seed, the saved history and the
// command that replays the schedule.
import { runChaos } from './runner.js';

const base = process.env.CHAOS_SEED === undefined ? undefined : Number(process.env.CHAOS_SEED);

describe('chaos: faults against real processes, checked histories', () => {
  test.each([
    { nodes: 3, clients: 12, seed: base ?? 4 },
    { nodes: 5, clients: 16, seed: base === undefined ? 17 : base + 1 },
  ])(
    '$nodes nodes, $clients clients, seed $seed, 60 s of faults: no violations',
    async ({ nodes, clients, seed }) => {
      const r = await runChaos({ seed, nodes, clients, durationMs: 60_000 });
      if (!r.report.ok) throw new Error(`chaos run failed\n${r.summary}`);
      console.log(r.summary);
      // The run must have exercised the service, or a pass means nothing.
      expect(r.report.figures.grants).toBeGreaterThan(50);
      expect(Object.values(r.report.figures.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(3);
      expect(r.report.linearizability.gaveUp).toEqual([]);
    },
    240_000,
  );
});
