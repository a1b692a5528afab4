import { checkSeedRange } from './replay.js';

// Seeds 1001-2000 of the 2,000 that CI runs; split in files so jest runs them in parallel.
test('safety and recovery hold for simulation seeds 1001-2000', () => checkSeedRange(1001, 1000));
