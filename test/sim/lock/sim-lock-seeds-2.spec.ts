import { checkLockSeedRange } from './replay.js';

test('every lock-service promise holds for simulation seeds 1001-2000', async () => {
  await checkLockSeedRange(1001, 1000);
}, 300_000);
