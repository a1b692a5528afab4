import { runLockSeed } from './scenario.js';
import { lockReplayCommand } from './replay.js';

async function traced(seed: number): Promise<string[]> {
  const lines: string[] = [];
  await runLockSeed({ seed, trace: (l) => lines.push(l) });
  return lines;
}

test('a seed replays the same run exactly, line for line of its trace', async () => {
  const a = await traced(42);
  const b = await traced(42);
  expect(a.length).toBeGreaterThan(1_000);
  expect(b).toEqual(a);
});

test('different seeds make different runs', async () => {
  const a = await runLockSeed({ seed: 1 });
  const b = await runLockSeed({ seed: 3 });
  expect(b.faults).not.toEqual(a.faults);
});

test('the replay command names the seed', () => {
  expect(lockReplayCommand(1234)).toContain('--seed 1234');
});
