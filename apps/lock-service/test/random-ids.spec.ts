import { randomIds } from '../src/domain/runtime.js';

describe('randomIds', () => {
  test('16 hex digits each, none repeated across many refills of the pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const id = randomIds.next();
      expect(id).toMatch(/^[0-9a-f]{16}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(5_000);
  });
});
