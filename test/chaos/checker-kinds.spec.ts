// The checker's rules for the other lock kinds, on hand-made histories: readers never beside a
// writer, never more than `limit` holders of a semaphore, no grant inside a lock-delay. Each rule
// must catch its violation and pass a legal history that a one-holder checker would reject.
import { H } from './checker-fixtures.js';
import { check, DEFAULT_CHECK, type Report } from './checker/index.js';

const properties = (r: Report) => [...new Set(r.violations.map((v) => v.property))].sort();
const run = (h: H) => check(h.h, DEFAULT_CHECK);
const SHARED = { shared: true };
const SEM = { limit: 2 };
const DELAY = { lockDelayMs: 800 };

describe('chaos checker: shared locks', () => {
  test('readers hold together, granted by one entry or several; a writer after them passes', () => {
    const h = new H();
    h.hold('r1', 5, 0, 10, SHARED);
    h.hold('r2', 5, 2, 12, SHARED); // granted with r1 by the same entry
    h.hold('r3', 7, 20, 30, SHARED);
    h.readHolders(
      [
        ['r1', 5, true],
        ['r2', 5, true],
        ['r3', 7, true],
      ],
      40,
      50,
    );
    h.event({ at: 11, kind: 'acquired', owner: 'r1', token: 5, stream: 'sdk-watch-1' });
    h.event({ at: 12, kind: 'acquired', owner: 'r2', token: 5, stream: 'sdk-watch-1' });
    h.release('r1', 100, 110);
    h.release('r2', 100, 110);
    h.release('r3', 120, 130);
    h.hold('w', 12, 60, 140, {});
    h.write({ at: 150, token: 12, accepted: true, client: 'w' });
    h.readHolders([['w', 12, false]], 160, 170);
    const r = run(h);
    expect(r.violations).toEqual([]);
    expect(r.examined).toMatchObject({ grants: 4, kindGrants: 4, handOvers: 2, reads: 2 });
  });

  test('a writer granted while a reader’s lease could not have ended: readers-writer', () => {
    const h = new H();
    h.hold('r1', 5, 0, 10, SHARED); // holds until 1000 at least
    h.hold('w', 9, 100, 200, {});
    const r = run(h);
    expect(properties(r)).toEqual(['readers-writer']);
    expect(r.violations.map((v) => v.message).join('\n')).toMatch(
      /w \(token 9, op 2\) was granted by 200\.0, while r1 .* \(an EXCLUSIVE hold beside 1 of the other mode\)/,
    );
  });

  test('a reader allowed to hold while a writer was: readers-writer, by validity windows', () => {
    const h = new H();
    h.hold('w', 5, 0, 10, {});
    h.release('w', 300, null, false); // a release may have been sent: only the windows overlap
    h.hold('r', 9, 200, 250, SHARED); // r's window opens at 250, w's was cut at 300
    expect(properties(run(h))).toEqual(['readers-writer']);
  });

  test('a reader and a writer with one token, and a read missing a holder', () => {
    const h = new H();
    h.hold('r1', 5, 0, 10, SHARED);
    h.hold('r2', 7, 0, 10, SHARED);
    h.readHolders([['r1', 5, true]], 20, 30); // r2 was allowed to hold: it must be listed
    h.release('r1', 40, 50);
    h.release('r2', 40, 50);
    h.hold('w', 7, 60, 70, {});
    expect(properties(run(h))).toEqual(['acknowledged-grant-visible', 'fencing-token']);
  });
});

describe('chaos checker: semaphores', () => {
  test('up to `limit` holders at once, a place freed then taken, two places freed by one entry', () => {
    const h = new H();
    h.hold('a', 5, 0, 10, SEM);
    h.hold('b', 8, 20, 30, SEM);
    h.readHolders(
      [
        ['a', 5, false],
        ['b', 8, false],
      ],
      40,
      50,
    );
    h.release('a', 100, 110);
    h.hold('c', 12, 60, 120, SEM); // waited for a's place
    h.release('b', 200, 210);
    h.release('c', 200, 210);
    h.hold('d', 20, 150, 220, SEM);
    h.hold('e', 20, 150, 220, SEM); // both granted by the entry that freed two places
    const r = run(h);
    expect(r.violations).toEqual([]);
    expect(r.examined.kindGrants).toBe(5);
  });

  test('a third holder of a limit-2 semaphore: semaphore-limit', () => {
    const h = new H();
    h.hold('a', 5, 0, 10, SEM);
    h.hold('b', 8, 20, 30, SEM);
    h.hold('c', 12, 40, 50, SEM);
    const r = run(h);
    expect(properties(r)).toEqual(['semaphore-limit']);
    expect(r.violations[0]?.message).toMatch(/3 EXCLUSIVE holders, limit 2/);
  });
});

describe('chaos checker: lock-delay', () => {
  // a asks for an 800 ms delay, TTL 1000, and is never released: its lease expires no earlier
  // than its floor (1000), so nobody may be granted the lock before 1800.
  test('a grant inside the delay after an expiry: lock-delay', () => {
    const h = new H();
    h.hold('a', 5, 0, 10, DELAY);
    h.hold('b', 9, 100, 1300, DELAY); // waited; granted 300 ms after a's floor
    const r = run(h);
    expect(properties(r)).toEqual(['lock-delay']);
    expect(r.violations[0]?.message).toMatch(/no grant before 1800\.0/);
    expect(r.examined.lockDelays).toBe(1);
  });

  test('a refusal naming no holder inside the delay is no sign of a holder', () => {
    const h = new H();
    h.hold('a', 5, 0, 10, DELAY);
    h.event({ at: 1100, kind: 'expired', owner: 'a', token: 5, stream: 'sdk-watch-1' });
    h.refused('', 1200, 1210); // after a's expiry, inside its delay
    h.hold('b', 9, 1300, 1850, DELAY);
    const r = run(h);
    expect(r.violations).toEqual([]);
    expect(r.linearizability.ok).toBe(1);
  });

  test('a grant after the delay, or after a release (which starts no delay), passes', () => {
    const after = new H();
    after.hold('a', 5, 0, 10, DELAY);
    after.hold('b', 9, 100, 1850, DELAY);
    expect(run(after).violations).toEqual([]);
    const released = new H();
    released.hold('a', 5, 0, 10, DELAY);
    released.release('a', 500, 510);
    released.hold('b', 9, 100, 600, DELAY);
    expect(run(released).violations).toEqual([]);
  });

  test('on a semaphore, known only from a Watch EXPIRED before the next request', () => {
    const delayed = (requestedAt: number) => {
      const h = new H();
      h.hold('a', 5, 0, 10, { ...SEM, ...DELAY });
      h.event({ at: 1100, kind: 'expired', owner: 'a', token: 5, stream: 'sdk-watch-1' });
      h.hold('c', 9, requestedAt, 1300, { ...SEM, ...DELAY });
      return run(h);
    };
    expect(properties(delayed(1200))).toEqual(['lock-delay']);
    // Asked before the expiry was seen: c may have taken the free place beside a, legally.
    expect(delayed(1050).violations).toEqual([]);
  });
});
