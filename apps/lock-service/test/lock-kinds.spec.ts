// Shared locks, semaphores and lock-delay in the replicated state machine (issue 17).
import fc from 'fast-check';
import { LockEventType } from '../src/domain/api.js';
import { type AcquireCmd, type UnstampedCommand } from '../src/domain/commands.js';
import { holdersOf } from '../src/domain/lock-kinds.js';
import { keysOf } from '../src/domain/model.js';
import { LockStateMachine } from '../src/domain/state-machine.js';
import { granted, Log } from './fixtures/log.js';

const holders = (log: Log, name: string) => {
  const m = log.sm.mutex('lock', name);
  return m ? holdersOf(m).map((h) => h.owner) : [];
};
const queue = (log: Log, name: string) =>
  log.sm.mutex('lock', name)?.queue.map((w) => w.owner) ?? [];
const release = (log: Log, leaseId: string, name: string) =>
  log.apply({ op: 'release', kind: 'lock', lease_id: leaseId, name });
/** A waiting acquire whose request id is its owner's name. */
const wait = (log: Log, name: string, owner: string, o: Partial<AcquireCmd> = {}) =>
  log.acquire(name, { owner, wait: true, request_id: owner, ...o });

describe('shared locks', () => {
  test('SHARED holders hold together; an EXCLUSIVE request is refused while any holds', () => {
    const log = new Log();
    const r1 = granted(log.acquire('db', { owner: 'r1', shared: true }));
    const r2 = granted(log.acquire('db', { owner: 'r2', shared: true }));
    expect(r2.token).toBeGreaterThan(r1.token);
    expect(holders(log, 'db')).toEqual(['r1', 'r2']);
    // A try names the oldest holder.
    expect(log.acquire('db', { owner: 'w' })).toEqual({ status: 'held', holder: 'r1' });
    release(log, r1.lease_id, 'db');
    expect(log.acquire('db', { owner: 'w' })).toEqual({ status: 'held', holder: 'r2' });
    release(log, r2.lease_id, 'db');
    expect(log.sm.mutex('lock', 'db')).toBeUndefined();
    granted(log.acquire('db', { owner: 'w' }));
    expect(log.acquire('db', { owner: 'r3', shared: true })).toEqual({
      status: 'held',
      holder: 'w',
    });
  });

  test('strict FIFO: a queued EXCLUSIVE request holds back the SHARED ones after it; SHARED ones at the head are granted together by one entry', () => {
    const log = new Log();
    const r1 = granted(log.acquire('db', { owner: 'r1', shared: true }));
    expect(wait(log, 'db', 'w1').status).toBe('queued');
    // Compatible with the holder, but behind a writer: it waits (no writer starvation).
    expect(wait(log, 'db', 'r2', { shared: true }).status).toBe('queued');
    expect(wait(log, 'db', 'r3', { shared: true }).status).toBe('queued');
    expect(wait(log, 'db', 'w2').status).toBe('queued');
    expect(wait(log, 'db', 'r4', { shared: true }).status).toBe('queued');
    expect(log.acquire('db', { owner: 'r5', shared: true })).toEqual({
      status: 'held',
      holder: 'r1',
    });
    expect(queue(log, 'db')).toEqual(['w1', 'r2', 'r3', 'w2', 'r4']);

    release(log, r1.lease_id, 'db');
    expect(holders(log, 'db')).toEqual(['w1']);
    const w1 = log.sm.recorded('w1');
    expect(w1).toMatchObject({ status: 'granted', token: log.index });
    release(log, (w1 as { lease_id: string }).lease_id, 'db');
    // Both readers at the head, by the one release entry: one token, that entry's index.
    expect(holders(log, 'db')).toEqual(['r2', 'r3']);
    const tokens = holdersOf(log.sm.mutex('lock', 'db')!).map((h) => h.token);
    expect(tokens).toEqual([log.index, log.index]);
    expect(queue(log, 'db')).toEqual(['w2', 'r4']);
    const [r2, r3] = holdersOf(log.sm.mutex('lock', 'db')!);
    release(log, r2!.lease_id, 'db');
    expect(holders(log, 'db')).toEqual(['r3']);
    release(log, r3!.lease_id, 'db');
    expect(holders(log, 'db')).toEqual(['w2']);
    expect(queue(log, 'db')).toEqual(['r4']);
  });

  test('an EXCLUSIVE waiter leaving the head (its wait cancelled, or its lease gone) lets the SHARED ones behind it in', () => {
    const log = new Log();
    granted(log.acquire('db', { owner: 'r1', shared: true }));
    wait(log, 'db', 'w1');
    wait(log, 'db', 'r2', { shared: true });
    wait(log, 'db', 'w2', { ttl_ms: 2_000 });
    wait(log, 'db', 'r3', { shared: true });
    log.apply({ op: 'cancel_wait', kind: 'lock', name: 'db', request_id: 'w1' });
    expect(holders(log, 'db')).toEqual(['r1', 'r2']);
    expect(log.sm.recorded('r2')).toMatchObject({ status: 'granted', token: log.index });
    expect(queue(log, 'db')).toEqual(['w2', 'r3']);
    // w2's lease expires (nobody kept it alive): r3 is let in by the entry that expired it.
    log.t += 2_000;
    log.apply({ op: 'tick' });
    expect(holders(log, 'db')).toEqual(['r1', 'r2', 'r3']);
    expect(log.sm.recorded('w2')).toEqual({ status: 'lease_not_found' });
  });

  test('a retried request id returns the same SHARED grant while its lease holds it', () => {
    const log = new Log();
    const a = granted(log.acquire('db', { owner: 'a', shared: true, request_id: 'ra' }));
    granted(log.acquire('db', { owner: 'b', shared: true }));
    expect(log.acquire('db', { owner: 'a', shared: true, request_id: 'ra' })).toEqual(a);
    release(log, a.lease_id, 'db');
    expect(log.acquire('db', { owner: 'a', shared: true, request_id: 'ra' })).toEqual({
      status: 'held',
      holder: 'b',
    });
  });
});

describe('semaphores', () => {
  test('up to `limit` EXCLUSIVE holders at once; the next waits and is granted as one releases', () => {
    const log = new Log();
    const g = [1, 2, 3].map((i) => granted(log.acquire('pool', { owner: `h${i}`, limit: 3 })));
    expect(log.acquire('pool', { owner: 'h4', limit: 3 })).toEqual({
      status: 'held',
      holder: 'h1',
    });
    expect(wait(log, 'pool', 'h4', { limit: 3 }).status).toBe('queued');
    expect(wait(log, 'pool', 'h5', { limit: 3 }).status).toBe('queued');
    release(log, g[1]!.lease_id, 'pool');
    expect(holders(log, 'pool')).toEqual(['h1', 'h3', 'h4']);
    expect(queue(log, 'pool')).toEqual(['h5']);
    const tokens = holdersOf(log.sm.mutex('lock', 'pool')!).map((h) => h.token);
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    expect(tokens[2]).toBe(log.index);
  });

  test('slots freed by one entry are granted by it: those grants share its index as their token', () => {
    const log = new Log();
    granted(log.acquire('pool', { owner: 'h1', limit: 3, ttl_ms: 60_000 }));
    granted(log.acquire('pool', { owner: 'h2', limit: 3, ttl_ms: 2_000 }));
    granted(log.acquire('pool', { owner: 'h3', limit: 3, ttl_ms: 2_000 }));
    wait(log, 'pool', 'w1', { limit: 3, ttl_ms: 60_000 });
    wait(log, 'pool', 'w2', { limit: 3, ttl_ms: 60_000 });
    log.t += 2_000; // h2 and h3 expire at the same entry
    log.apply({ op: 'tick' });
    expect(holders(log, 'pool')).toEqual(['h1', 'w1', 'w2']);
    const tokens = holdersOf(log.sm.mutex('lock', 'pool')!).map((h) => h.token);
    expect(tokens.slice(1)).toEqual([log.index, log.index]);
  });

  test('the limit is fixed by the first holder while the name has holders or waiters; another limit, or SHARED, is refused naming the limit', () => {
    const log = new Log();
    const a = granted(log.acquire('pool', { owner: 'a', limit: 3 }));
    expect(log.acquire('pool', { owner: 'b', limit: 2 })).toEqual({
      status: 'limit_mismatch',
      limit: 3,
    });
    expect(log.acquire('pool', { owner: 'b' })).toEqual({ status: 'limit_mismatch', limit: 3 });
    expect(log.acquire('pool', { owner: 'b', shared: true })).toEqual({
      status: 'limit_mismatch',
      limit: 3,
    });
    // A mutex refuses a semaphore's request too.
    granted(log.acquire('m', { owner: 'a' }));
    expect(log.acquire('m', { owner: 'b', limit: 2 })).toEqual({
      status: 'limit_mismatch',
      limit: 1,
    });
    // A refusal is answered the same to a retry, and creates no lease.
    const leases = log.sm.leases.size;
    expect(log.acquire('pool', { owner: 'c', limit: 5, request_id: 'rc' }).status).toBe(
      'limit_mismatch',
    );
    expect(log.sm.recorded('rc')).toEqual({ status: 'limit_mismatch', limit: 3 });
    expect(log.sm.leases.size).toBe(leases);
    release(log, a.lease_id, 'pool');
    expect(log.sm.mutex('lock', 'pool')).toBeUndefined();
  });

  test('a semaphore shrinks only once its holders and waiters are gone, then takes its next first holder’s limit', () => {
    const log = new Log();
    const g = [1, 2, 3].map((i) => granted(log.acquire('pool', { owner: `h${i}`, limit: 3 })));
    const w = wait(log, 'pool', 'w', { limit: 3 });
    release(log, g[0]!.lease_id, 'pool');
    release(log, g[1]!.lease_id, 'pool');
    // h3 and w hold: still a 3-semaphore, though 2 hold.
    expect(holders(log, 'pool')).toEqual(['h3', 'w']);
    expect(log.acquire('pool', { owner: 'x', limit: 2 }).status).toBe('limit_mismatch');
    granted(log.acquire('pool', { owner: 'y', limit: 3 }));
    release(log, g[2]!.lease_id, 'pool');
    release(log, (w as { lease_id: string }).lease_id, 'pool');
    const y = holdersOf(log.sm.mutex('lock', 'pool')!)[0]!;
    release(log, y.lease_id, 'pool');
    expect(log.sm.mutex('lock', 'pool')).toBeUndefined();
    // Free again: the next first holder sets a smaller limit, which holds from then on.
    granted(log.acquire('pool', { owner: 'p', limit: 2 }));
    granted(log.acquire('pool', { owner: 'q', limit: 2 }));
    expect(log.acquire('pool', { owner: 'r', limit: 2 })).toEqual({ status: 'held', holder: 'p' });
    expect(log.acquire('pool', { owner: 'r', limit: 3 })).toEqual({
      status: 'limit_mismatch',
      limit: 2,
    });
  });
});

describe('lock-delay', () => {
  test('after a holder’s lease expires, nobody is granted the name for its delay; waiters are served once it ends, by the entry that ends it', () => {
    const log = new Log();
    const a = granted(log.acquire('x', { owner: 'a', ttl_ms: 5_000, delay_ms: 3_000 }));
    wait(log, 'x', 'b');
    log.t += 5_000; // a's lease expires at this entry
    log.apply({ op: 'tick' });
    const expiredAt = log.t;
    expect(log.sm.live(a.lease_id)).toBeUndefined();
    expect(log.sm.mutex('lock', 'x')).toMatchObject({
      holder: null,
      delayed_until: expiredAt + 3_000,
    });
    expect(queue(log, 'x')).toEqual(['b']);
    expect(log.sm.nextExpiry()).toBe(expiredAt + 3_000);
    // Inside the window: no grant, to a waiter or a newcomer.
    log.t = expiredAt + 2_999;
    log.apply({ op: 'tick' });
    expect(log.acquire('x', { owner: 'c' })).toEqual({ status: 'held', holder: '' });
    expect(holders(log, 'x')).toEqual([]);
    log.t = expiredAt + 3_000;
    log.apply({ op: 'tick' });
    expect(holders(log, 'x')).toEqual(['b']);
    expect(log.sm.recorded('b')).toMatchObject({ status: 'granted', token: log.index });
    expect(log.sm.mutex('lock', 'x')!.delayed_until).toBeUndefined();
  });

  test('a released grant has no delay; a delay on a name nobody waits for ends by itself', () => {
    const log = new Log();
    const a = granted(log.acquire('x', { owner: 'a', delay_ms: 3_000 }));
    wait(log, 'x', 'b');
    release(log, a.lease_id, 'x');
    expect(holders(log, 'x')).toEqual(['b']);

    const c = granted(log.acquire('y', { owner: 'c', ttl_ms: 5_000, delay_ms: 3_000 }));
    log.t += 5_000;
    log.apply({ op: 'tick' });
    expect(log.sm.live(c.lease_id)).toBeUndefined();
    expect(log.sm.mutex('lock', 'y')).toMatchObject({ holder: null, queue: [] });
    log.t += 3_000;
    log.apply({ op: 'tick' });
    expect(log.sm.mutex('lock', 'y')).toBeUndefined();
    granted(log.acquire('y', { owner: 'd' }));
  });

  test('a SHARED or semaphore holder’s expiry delays new grants while the others keep holding', () => {
    const log = new Log();
    const short = granted(
      log.acquire('p', { owner: 'a', limit: 2, ttl_ms: 5_000, delay_ms: 1_000 }),
    );
    granted(log.acquire('p', { owner: 'b', limit: 2, ttl_ms: 60_000 }));
    wait(log, 'p', 'c', { limit: 2 });
    log.t += 5_000;
    log.apply({ op: 'tick' });
    expect(log.sm.live(short.lease_id)).toBeUndefined();
    expect(holders(log, 'p')).toEqual(['b']);
    expect(queue(log, 'p')).toEqual(['c']);
    log.t += 1_000;
    log.apply({ op: 'tick' });
    expect(holders(log, 'p')).toEqual(['b', 'c']);
  });

  test('the delay is replicated state: a replica restored from a snapshot in the window, under a new leader’s term, ends it at the same entry', async () => {
    const log = new Log();
    granted(log.acquire('x', { owner: 'a', ttl_ms: 5_000, delay_ms: 3_000 }));
    wait(log, 'x', 'b', { ttl_ms: 60_000 });
    log.t += 5_000;
    log.apply({ op: 'tick' });
    const restored = new LockStateMachine();
    await restored.restore([...log.sm.snapshot()]);
    expect(restored.mutex('lock', 'x')).toEqual(log.sm.mutex('lock', 'x'));
    expect(restored.nextExpiry()).toBe(log.sm.nextExpiry());
    // Both apply the rest of the log, written by a new leader (a new term, its stamps
    // continuing the clock).
    const other = new Log(restored);
    other.index = log.index;
    log.noop(2);
    other.noop(2);
    const expiredAt = log.t;
    for (const l of [log, other]) {
      l.t = expiredAt + 1_500;
      l.apply({ op: 'tick' }, 2);
      expect(holders(l, 'x')).toEqual([]);
      l.t += 1_500;
      l.apply({ op: 'tick' }, 2);
      expect(holders(l, 'x')).toEqual(['b']);
    }
    expect(holdersOf(restored.mutex('lock', 'x')!)).toEqual(holdersOf(log.sm.mutex('lock', 'x')!));
  });
});

describe('every replica alike', () => {
  const NAMES = ['a', 'b'];
  const arbCommand: fc.Arbitrary<UnstampedCommand> = fc.oneof(
    fc
      .record({
        name: fc.constantFrom(...NAMES),
        owner: fc.constantFrom('o1', 'o2'),
        ttl_ms: fc.constantFrom(1_000, 4_000),
        wait: fc.boolean(),
        request_id: fc.constantFrom('', 'r1', 'r2', 'r3'),
        lease_id: fc.constantFrom('', 'L1', 'L2'),
        new_lease_id: fc.constantFrom('L1', 'L2', 'L3', 'L4'),
        hold: fc.constantFrom(
          {},
          { shared: true as const },
          { limit: 2 },
          { delay_ms: 700 },
          {
            shared: true as const,
            delay_ms: 1_300,
          },
        ),
      })
      .map(({ hold, ...c }) => ({
        op: 'acquire' as const,
        kind: 'lock' as const,
        value: '',
        max_leases: 100,
        max_waiters: 100,
        ...c,
        ...hold,
      })),
    fc.record({
      op: fc.constant('release' as const),
      kind: fc.constant('lock' as const),
      lease_id: fc.constantFrom('L1', 'L2', 'L3', 'L4'),
      name: fc.constantFrom('', ...NAMES),
    }),
    fc.record({
      op: fc.constant('cancel_wait' as const),
      kind: fc.constant('lock' as const),
      name: fc.constantFrom(...NAMES),
      request_id: fc.constantFrom('r1', 'r2', 'r3'),
    }),
    fc.record({ op: fc.constant('tick' as const) }),
  );
  const arbStep = fc.record({ cmd: arbCommand, advance: fc.integer({ min: 0, max: 1_500 }) });
  const state = (sm: LockStateMachine) => ({
    mutexes: [...sm.allMutexes()].sort((x, y) => x.name.localeCompare(y.name)),
    leases: [...sm.leases.values()]
      .map((l) => ({ ...l, holds: [...keysOf(l.holds)].sort() }))
      .sort((x, y) => x.id.localeCompare(y.id)),
    next: sm.nextExpiry(),
  });

  test('a replica restored from a snapshot taken anywhere applies the rest of the log to the same state; holds never break the rules', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbStep, { minLength: 1, maxLength: 60 }),
        fc.nat(),
        async (steps, at) => {
          const log = new Log();
          let other: Log | undefined;
          const last = new Map<string, number>();
          const cut = at % steps.length;
          for (const [i, s] of steps.entries()) {
            if (i === cut) {
              const sm = new LockStateMachine();
              await sm.restore([...log.sm.snapshot(64)]);
              other = new Log(sm);
              other.index = log.index;
              other.t = log.t;
            }
            for (const l of other ? [log, other] : [log]) {
              l.t += s.advance;
              l.apply(s.cmd);
            }
            // Tokens never decrease per name, and strictly increase from one exclusive grant
            // of a mutex to the next.
            for (const e of log.events.splice(0)) {
              if (e.type !== 'lock' || e.event !== LockEventType.ACQUIRED) continue;
              const m = log.sm.mutex('lock', e.name);
              expect(e.token).toBeGreaterThanOrEqual(last.get(e.name) ?? 0);
              if (!e.shared && (m?.limit ?? 1) === 1)
                expect(e.token).toBeGreaterThan(last.get(e.name) ?? 0);
              last.set(e.name, e.token);
            }
            for (const m of log.sm.allMutexes()) {
              const hs = holdersOf(m);
              // Readers never next to a writer; never more EXCLUSIVE holders than the limit;
              // nobody granted inside a delay (a holder granted at or after its start).
              expect(hs.every((h) => h.shared) || hs.every((h) => !h.shared)).toBe(true);
              if (!hs[0]?.shared) expect(hs.length).toBeLessThanOrEqual(m.limit ?? 1);
              if (m.delayed_until !== undefined && m.delayed_until > log.t)
                for (const h of hs) expect(log.index === h.token).toBe(false);
            }
          }
          expect(state(other!.sm)).toEqual(state(log.sm));
        },
      ),
      { numRuns: 300 },
    );
  });
});
