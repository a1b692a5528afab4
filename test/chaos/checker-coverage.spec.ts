// A run passes only if its checks examined enough to mean something, every fault was followed by
// recovery, and the harness itself saw nothing go wrong.
import { H } from './checker-fixtures.js';
import { check, DEFAULT_CHECK } from './checker/index.js';
import { floorsFor } from './checker/coverage.js';

const properties = (h: H) =>
  [...new Set(check(h.h, DEFAULT_CHECK).violations.map((v) => v.property))].sort();

/** A valid minute of history: a few grants handed over after waits, reads, writes. */
function busyMinute(): H {
  const h = new H();
  h.h.meta.durationMs = 60_000;
  for (let i = 0; i < 5; i++) {
    const at = i * 1000;
    h.grant(`g${i}`, i + 1, at - 50, at + 10);
    h.h.ops.at(-1)!.waitMs = 500;
    h.read(`g${i}`, i + 1, at + 20, at + 30);
    h.write({ at: at + 40, token: i + 1, accepted: true, client: `g${i}` });
    h.release(`g${i}`, at + 100, at + 110);
  }
  return h;
}

describe('chaos checker: how much each check examined', () => {
  test('each check reports what it examined', () => {
    const h = busyMinute();
    const r = check(h.h, { ...DEFAULT_CHECK, floors: floorsFor(new H().h) });
    expect(r.violations).toEqual([]);
    expect(r.examined).toMatchObject({
      grants: 5,
      handOvers: 4,
      waits: 4,
      leaseEnds: 5,
      reads: 5,
      storeWrites: 5,
      mutexes: 1,
    });
  });

  test('a run that examined less than its floors fails, naming each check', () => {
    const r = check(busyMinute().h, DEFAULT_CHECK);
    const low = r.violations.filter((v) => v.property === 'examined-too-little').map((v) => v.key);
    expect(low).toEqual(
      expect.arrayContaining(['grants', 'reads', 'observeStreams', 'watchEvents', 'faults']),
    );
    expect(r.ok).toBe(false);
  });

  test('floors grow with the run’s length and are zero for a hand-made history', () => {
    const h = new H();
    expect(Object.values(floorsFor(h.h)).every((n) => n === 0)).toBe(true);
    h.h.meta.durationMs = 5 * 60_000;
    const five = floorsFor(h.h);
    h.h.meta.durationMs = 60_000;
    expect(five.grants).toBeGreaterThan(floorsFor(h.h).grants);
    expect(floorsFor(h.h).grants).toBeGreaterThan(0);
  });
});

describe('chaos checker: recovery and the harness’s own failures', () => {
  test('a fault with no agreed leader within 30 s of healing fails the run', () => {
    const h = new H();
    h.h.faults.push(
      { id: 1, kind: 'kill-leader', targets: ['n1'], detail: '', start: 0, end: 10, recovered: 50 },
      { id: 2, kind: 'bridge', targets: ['n2'], detail: '', start: 60, end: 90, recovered: null },
    );
    const r = check(h.h, DEFAULT_CHECK);
    expect(properties(h)).toEqual(['recovery']);
    expect(r.violations[0]?.message).toMatch(/fault 2 \(bridge/);
    expect(r.examined.faults).toBe(2);
  });

  test('a workload loop that threw, or no leader after the final heal, fails the run', () => {
    const h = new H();
    h.h.harness = [
      { at: 5, property: 'workload-error', message: "client L3's loop threw: TypeError: x" },
      { at: 9, property: 'recovery', message: 'no agreed leader 30 s after the final heal' },
    ];
    expect(properties(h)).toEqual(['recovery', 'workload-error']);
  });
});
