import { checkSeedRange } from './replay.js';

// Seeds 1-1000 of the 2,000 that CI runs; split in files so jest runs them in parallel.
test('safety and recovery hold for simulation seeds 1-1000', () => checkSeedRange(1, 1000));
