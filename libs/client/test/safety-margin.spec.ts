import { safetyMarginMs } from '../src/keepalive.js';

describe('how long before its lease can expire a handle stops claiming the lock', () => {
  test('a fifth of the TTL, at most a second, for the TTLs renewals are timed for', () => {
    expect(safetyMarginMs(1_000)).toBe(200);
    expect(safetyMarginMs(15_000)).toBe(1_000);
  });

  test('never less than 2 % of the TTL: the client’s and the server’s clocks may each run 1 % off', () => {
    expect(safetyMarginMs(3_600_000)).toBe(72_000);
    for (const ttl of [1_000, 5_000, 60_000, 600_000, 3_600_000])
      expect(safetyMarginMs(ttl)).toBeGreaterThanOrEqual(ttl * 0.02);
  });
});
