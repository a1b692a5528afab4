import { checkSeedRange, seedChunks } from './replay.js';

// Seeds 1001-2000 of the 2,000 that CI runs (see sim-seeds-1.spec.ts).
test.each(seedChunks(1001, 1000, 100))(
  'safety and recovery hold for simulation seeds %i-%i',
  (first, last) => checkSeedRange(first, last - first + 1),
);
