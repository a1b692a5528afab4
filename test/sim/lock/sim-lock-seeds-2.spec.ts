import { seedChunks } from '../replay.js';
import { checkLockSeedRange } from './replay.js';

// Seeds 1001-2000 of the 2,000 whole-service seeds CI runs; two files, so jest runs them in
// parallel, and tests of 100 seeds, so that each stays far from the test timeout on a loaded
// machine.
test.each(seedChunks(1001, 1000, 100))(
  'every lock-service promise holds for simulation seeds %i-%i',
  async (first, last) => {
    await checkLockSeedRange(first, last - first + 1);
  },
  150_000,
);
