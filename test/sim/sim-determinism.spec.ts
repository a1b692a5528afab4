import { runSeed } from './scenario.js';
import { replayCommand } from './replay.js';

async function traced(seed: number) {
  const lines: string[] = [];
  const result = await runSeed({ seed, trace: (l) => lines.push(l) });
  return { result, lines };
}

test('one seed reproduces the same run exactly, event for event', async () => {
  const a = await traced(42);
  const b = await traced(42);
  expect(a.lines.length).toBeGreaterThan(1000);
  expect(b.lines).toEqual(a.lines);
  expect(b.result).toEqual(a.result);
  expect(a.result.stats.acked).toBeGreaterThan(0);
});

test('tracing does not change the run', async () => {
  const quiet = await runSeed({ seed: 42 });
  const { result } = await traced(42);
  expect(result).toEqual(quiet);
});

test('different seeds make different schedules', async () => {
  expect((await runSeed({ seed: 1 })).faults).not.toEqual((await runSeed({ seed: 3 })).faults);
});

test('the replay command names the seed', () => {
  expect(replayCommand(1234)).toContain('--seed 1234');
});
