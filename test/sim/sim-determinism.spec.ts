import { runSeed } from './scenario.js';
import { replayCommand } from './replay.js';

test('one seed reproduces the same run exactly', () => {
  const a = runSeed({ seed: 42 });
  const b = runSeed({ seed: 42 });
  expect(b.faults).toEqual(a.faults);
  expect(b.stats).toEqual(a.stats);
  expect(a.stats.acked).toBeGreaterThan(0);
});

test('different seeds make different schedules', () => {
  expect(runSeed({ seed: 1 }).faults).not.toEqual(runSeed({ seed: 3 }).faults);
});

test('the replay command names the seed', () => {
  expect(replayCommand(1234)).toContain('--seed 1234');
});
