import { checkLockSeedRange } from './replay.js';

// Seeds 1-1000 of the 2,000 whole-service seeds CI runs; two files, so jest runs them in parallel.
test('every lock-service promise holds for simulation seeds 1-1000', async () => {
  await checkLockSeedRange(1, 1000);
}, 300_000);
