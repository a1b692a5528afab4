import fc from 'fast-check';
import type { ApplyResult } from '../src/domain/commands.js';
import { LeaseTable } from '../src/domain/lease-table.js';
import type { Lease } from '../src/domain/model.js';
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
