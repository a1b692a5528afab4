import fc from 'fast-check';
import type { ApplyResult } from '../src/domain/commands.js';
import { LeaseTable } from '../src/domain/lease-table.js';
import { type Holder, type Lease, type Mutex, NO_WAITERS, stateKey } from '../src/domain/model.js';
import { MutexTable } from '../src/domain/mutex-table.js';
import { RetryTable } from '../src/domain/retry-table.js';

// The lease and retry tables keep their records in typed arrays behind an index of their own:
// each is checked here against a plain Map doing the same operations, through growth past the
// first allocation, reused rows and index deletions.

const hexId = fc
  .bigInt({ min: 0n, max: 2n ** 64n - 1n })
  .map((n) => n.toString(16).padStart(16, '0'));
/** Ids of both kinds: a leader's (16 hex digits, many colliding in their low bits) and others. */
const arbId = fc.oneof(
  hexId,
  fc.integer({ min: 0, max: 3000 }).map((n) => n.toString(16).padStart(16, '0')),
  fc.constantFrom('L1', 'lease-2', '00000000000000A3', '0123456789abcdef0', ''),
);

function lease(id: string, expiresAt: number, extra: Partial<Lease> = {}): Lease {
  return {
    id,
    ttl_ms: 5_000,
    expires_at: expiresAt,
    holds: null,
    waits: null,
    created_for: '',
    ...extra,
  };
}

/** The lease the model says comes first: by expiry, then id as a string. */
function first(model: Map<string, Lease>): Lease | undefined {
  let best: Lease | undefined;
  for (const l of model.values()) {
    if (
      !best ||
      l.expires_at < best.expires_at ||
      (l.expires_at === best.expires_at && l.id < best.id)
    )
      best = l;
  }
  return best;
}

describe('the lease table', () => {
  test('does what a Map does, and yields leases by (expiry, id)', () => {
    const op = fc.oneof(
      fc.record({
        put: arbId,
        at: fc.integer({ min: 0, max: 50 }),
        holds: fc.constantFrom(null, 'a', ['a', 'b']),
        principal: fc.constantFrom(undefined, 'alice'),
      }),
      fc.record({ del: arbId }),
      fc.record({ pop: fc.integer({ min: 0, max: 50 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
        const t = new LeaseTable();
        const model = new Map<string, Lease>();
        for (const o of ops) {
          if ('put' in o) {
            const l = lease(o.put, o.at, {
              holds: o.holds,
              ...(o.principal ? { principal: o.principal } : {}),
            });
            t.put(l, 0);
            model.set(o.put, l);
          } else if ('del' in o) {
            t.delete(o.del);
            model.delete(o.del);
          } else {
            const due = t.due(o.pop);
            const want = first(model);
            expect(due).toEqual(want && want.expires_at <= o.pop ? want : undefined);
            if (due) {
              t.delete(due.id);
              model.delete(due.id);
            }
          }
          expect(t.size).toBe(model.size);
        }
        for (const [id, l] of model) expect(t.get(id)).toEqual(l);
        expect(new Set([...t.values()].map((l) => l.id))).toEqual(new Set(model.keys()));
        expect(t.peekExpiry()).toBe(first(model)?.expires_at);
      }),
      { numRuns: 60 },
    );
  });

  test('holds 100,000 leases and finds each again after half are gone', () => {
    const t = new LeaseTable();
    const ids = Array.from({ length: 100_000 }, (_, i) =>
      (i * 2_654_435_761).toString(16).padStart(16, '0'),
    );
    ids.forEach((id, i) => t.put(lease(id, i), 0));
    ids.forEach((id, i) => i % 2 === 0 && t.delete(id));
    expect(t.size).toBe(50_000);
    ids.forEach((id, i) => expect(t.has(id)).toBe(i % 2 === 1));
    expect(t.due(Infinity)!.id).toBe(ids[1]);
  });

  test('a lease id it does not make into words is kept as given', () => {
    const t = new LeaseTable();
    for (const id of ['L1', 'ABCDEF0123456789', 'abcdef012345678', '']) t.put(lease(id, 1), 0);
    expect([...t.values()].map((l) => l.id).sort()).toEqual([
      '',
      'ABCDEF0123456789',
      'L1',
      'abcdef012345678',
    ]);
    t.delete('L1');
    expect(t.has('L1')).toBe(false);
    expect(t.get('abcdef012345678')!.id).toBe('abcdef012345678');
  });
});

describe('the retry table', () => {
  const key = fc
    .uint8Array({ minLength: 16, maxLength: 16 })
    .map((b) => Buffer.from(b).toString('latin1'));
  const result = fc.oneof(
    fc.record({
      status: fc.constant('granted' as const),
      lease_id: fc.oneof(hexId, fc.constant('L1')),
      token: fc.integer({ min: 1, max: 2 ** 40 }),
      ttl_ms: fc.integer({ min: 0, max: 3_600_000 }),
    }),
    fc.record({ status: fc.constant('held' as const), holder: fc.string() }),
    fc.constant({ status: 'lease_not_found' as const }),
    fc.record({ status: fc.constant('limit_mismatch' as const), limit: fc.nat() }),
  );

  test('does what a Map in insertion order does: answers, age order, oldest first', () => {
    const op = fc.oneof(
      fc.record({ put: fc.nat(40), r: result }),
      fc.record({ del: fc.nat(40) }),
      fc.record({ dropOldest: fc.constant(true) }),
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(key, { minLength: 41, maxLength: 41 }),
        fc.array(op, { maxLength: 400 }),
        (keys, ops) => {
          const t = new RetryTable();
          const model = new Map<string, { t: number; seq: number; r: ApplyResult }>();
          let clock = 0;
          for (const o of ops) {
            clock++;
            if ('put' in o) {
              const k = keys[o.put]!;
              t.put({ key: k, t: clock, seq: clock, r: o.r }, 0);
              model.delete(k);
              model.set(k, { t: clock, seq: clock, r: o.r });
            } else if ('del' in o) {
              t.delete(keys[o.del]!);
              model.delete(keys[o.del]!);
            } else {
              const oldest = model.keys().next();
              expect(t.oldestKey()).toBe(oldest.done ? undefined : oldest.value);
              if (!oldest.done) {
                expect(t.oldestTime()).toBe(model.get(oldest.value)!.t);
                t.delete(oldest.value);
                model.delete(oldest.value);
              }
            }
            expect(t.size).toBe(model.size);
          }
          for (const [k, rec] of model) expect(t.get(k)).toEqual(rec.r);
          const rows = [...t.rows()].map((r) => t.record(r));
          expect(rows.sort((a, b) => a.seq - b.seq)).toEqual(
            [...model].map(([k, rec]) => ({ key: k, ...rec })),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  test('refuses a key that is not 16 bytes, as a snapshot with a broken record must be', () => {
    const t = new RetryTable();
    expect(() => t.has('short')).toThrow('a key of 5 characters');
    expect(() => t.has('\u0100'.repeat(16))).toThrow('not bytes');
  });
});

describe('the mutex table', () => {
  const holder = fc
    .record({
      lease_id: arbId,
      owner: fc.constantFrom('o1', 'o2'),
      value: fc.constantFrom('', 'v'),
      token: fc.integer({ min: 1, max: 2 ** 40 }),
      shared: fc.constantFrom(undefined, true as const),
      delay_ms: fc.constantFrom(undefined, 800),
    })
    .map(({ shared, delay_ms, ...h }): Holder => ({
      ...h,
      ...(shared ? { shared } : {}),
      ...(delay_ms ? { delay_ms } : {}),
    }));
  const waiter = fc.record({
    lease_id: arbId,
    owner: fc.constant('w'),
    value: fc.constant(''),
    request_id: fc.constantFrom('', 'r1'),
  });
  const mutex = fc
    .record({
      kind: fc.constantFrom('lock' as const, 'election' as const),
      name: fc.constantFrom('a', 'b', 'jobs/c', '\u00e9t\u00e9'),
      holder: fc.option(holder, { nil: null }),
      others: fc.option(fc.array(holder, { minLength: 1, maxLength: 2 }), { nil: undefined }),
      queue: fc.array(waiter, { maxLength: 2 }),
      limit: fc.constantFrom(undefined, 3),
      delayed_until: fc.constantFrom(undefined, 1234.5),
    })
    .map(({ others, limit, delayed_until, queue, ...m }): Mutex => ({
      ...m,
      queue: queue.length === 0 ? NO_WAITERS : queue,
      ...(others && m.holder ? { others } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(delayed_until !== undefined ? { delayed_until } : {}),
    }));

  test('does what a Map does, for every shape of mutex', () => {
    const op = fc.oneof(fc.record({ put: mutex }), fc.record({ del: mutex }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 2500 }), (ops) => {
        const t = new MutexTable();
        const model = new Map<string, Mutex>();
        for (const o of ops) {
          if ('put' in o) {
            const key = stateKey(o.put.kind, o.put.name);
            t.put(key, o.put, 0);
            model.set(key, o.put);
          } else {
            const key = stateKey(o.del.kind, o.del.name);
            t.delete(key);
            model.delete(key);
          }
          expect(t.size).toBe(model.size);
        }
        for (const [key, m] of model) expect(t.get(key)).toEqual(m);
        expect(new Set([...t.values()].map((m) => stateKey(m.kind, m.name)))).toEqual(
          new Set(model.keys()),
        );
      }),
      { numRuns: 100 },
    );
  });

  test('grows past its first rows and reuses freed ones', () => {
    const t = new MutexTable();
    const m = (i: number): Mutex => ({
      kind: 'lock',
      name: `n${i}`,
      holder: {
        lease_id: (i * 7919).toString(16).padStart(16, '0'),
        owner: 'o',
        value: '',
        token: i,
      },
      queue: NO_WAITERS,
    });
    for (let i = 0; i < 5000; i++) t.put(`n${i}`, m(i), 0);
    for (let i = 0; i < 5000; i += 2) t.delete(`n${i}`);
    for (let i = 5000; i < 7500; i++) t.put(`n${i}`, m(i), 0);
    expect(t.size).toBe(5000);
    expect([...t.rows()]).toHaveLength(5000);
    for (let i = 1; i < 7500; i += 2) expect(t.get(`n${i}`)).toEqual(m(i));
  });
});
