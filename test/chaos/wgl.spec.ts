// The linearizability search on its own (a register), and the mutex model on lock histories:
// stale reads that only a linearizability search can see, the smallest failing sub-history it
// reports, and a bounded search that gives up instead of guessing.
import { H } from './checker-fixtures.js';
import { buildGrants } from './checker/grants.js';
import { check as fullCheck } from './checker/index.js';
import { checkKeyLinearizable } from './checker/linearizability.js';
import { checkLinearizable, type LinOp, minimize } from './checker/wgl.js';

type Reg = number;
const write = (v: number, call: number, ret: number): LinOp<Reg> => ({
  call,
  ret,
  label: `w${v}`,
  step: () => v,
});
const read = (v: number, call: number, ret: number): LinOp<Reg> => ({
  call,
  ret,
  label: `r${v}`,
  step: (s) => (s === v ? s : null),
});
const lin = (ops: LinOp<Reg>[], budget = 100_000) =>
  checkLinearizable(ops, 0, String, { budget }).kind;

describe('linearizability search (a register)', () => {
  test('sequential and overlapping histories that have a linearization', () => {
    expect(lin([write(1, 0, 10), read(1, 20, 30)])).toBe('ok');
    // The read overlaps both writes: it may see either.
    expect(lin([write(1, 0, 10), write(2, 5, 15), read(1, 12, 20)])).toBe('ok');
    // An op that never returned may take effect at any time after its call.
    expect(lin([write(1, 0, Infinity), read(0, 5, 6), read(1, 7, 8)])).toBe('ok');
  });

  test('a stale read and a read of a value never written are caught', () => {
    expect(lin([write(1, 0, 10), write(2, 20, 30), read(1, 40, 50)])).toBe('violation');
    expect(lin([write(1, 0, 10), read(3, 20, 30)])).toBe('violation');
    // Two reads that see the writes in opposite orders.
    expect(
      lin([write(1, 0, 100), write(2, 0, 100), read(1, 10, 20), read(2, 30, 40), read(1, 50, 60)]),
    ).toBe('violation');
  });

  test('the search is bounded: out of budget it gives up rather than answer', () => {
    const ops = Array.from({ length: 40 }, (_, i) => write(i, 0, 1000));
    ops.push(read(-1, 0, 1000));
    expect(lin(ops, 500)).toBe('gave-up');
  });

  test('minimize keeps a failing subset that still fails', () => {
    const fails = (xs: readonly number[]) => xs.includes(3) && xs.includes(17);
    expect(
      minimize(
        Array.from({ length: 40 }, (_, i) => i),
        fails,
        200,
      ).sort(),
    ).toEqual([17, 3].sort());
  });
});

describe('linearizability of a lock history (mutex model)', () => {
  const check = (h: H) => checkKeyLinearizable(buildGrants(h.h).get('lock:x')!, 1_000_000);

  test('a read of a holder after the next holder came and went: no other check can tell', () => {
    const h = new H();
    h.grant('a', 5, 0, 10);
    h.release('a', 20, null); // unacknowledged: a may have left any time before b's grant
    h.grant('b', 7, 40, 50);
    h.release('b', 60, 70);
    for (let i = 0; i < 20; i++) h.read(null, 0, 80 + i * 10, 85 + i * 10); // noise
    h.read('a', 5, 300, 310); // a cannot come back after b held the lock
    const r = check(h);
    expect(r.result).toBe('violation');
    // The witness is the few ops that show it, not the whole history.
    expect(r.witness).toEqual([
      '[0.0, 10.0] op 1 a: grant a token 5',
      '[20.0, 50.0] a leaves (expiry or unacknowledged release, not before 20.0, by 50.0: grant op 3)',
      '[300.0, 310.0] op 25 c: read: held by a token 5',
    ]);
    const all = fullCheck(h.h);
    expect([...new Set(all.violations.map((v) => v.property))]).toEqual(['linearizability']);
  });

  test('a refused acquire naming a holder that had already left', () => {
    const h = new H();
    h.grant('a', 5, 0, 10);
    h.release('a', 20, 30);
    h.refused('a', 40, 50);
    expect(check(h).result).toBe('violation');
  });

  test('grants must be linearized in token order', () => {
    const h = new H();
    h.grant('a', 9, 0, 10);
    h.release('a', 20, 30);
    h.grant('b', 5, 40, 50); // token order broken, and it cannot be re-ordered: a returned first
    expect(check(h).result).toBe('violation');
  });

  test('concurrent grants, releases and reads with a valid order pass', () => {
    const h = new H();
    h.grant('a', 5, 0, 100);
    h.read(null, 0, 0, 50); // before a's grant took effect
    h.read('a', 5, 60, 120);
    h.release('a', 110, 200);
    h.grant('b', 8, 90, 210); // waited for a's release
    h.read('b', 8, 150, 300);
    h.refused('b', 220, 230);
    expect(check(h).result).toBe('ok');
  });

  test('an expiry may only happen after the lease’s floor', () => {
    const h = new H();
    h.grant('a', 5, 0, 10, 1000);
    h.read(null, 0, 500, 510); // a's lease cannot have expired before 1000
    expect(check(h).result).toBe('violation');
    const ok = new H();
    ok.grant('a', 5, 0, 10, 1000);
    ok.read(null, 0, 1500, 1510);
    expect(check(ok).result).toBe('ok');
  });
});
