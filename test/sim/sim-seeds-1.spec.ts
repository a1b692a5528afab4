import { checkSeedRange, seedChunks } from './replay.js';

// Seeds 1-1000 of the 2,000 that CI runs; split in files so jest runs them in parallel, and in
// tests of 100 seeds so that each stays far from the test timeout on a loaded machine.
test.each(seedChunks(1, 1000, 100))(
  'safety and recovery hold for simulation seeds %i-%i',
  (first, last) => checkSeedRange(first, last - first + 1),
);
