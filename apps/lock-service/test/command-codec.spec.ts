import fc from 'fast-check';
import { type Command, decodeCommand, encodeCommand } from '../src/domain/commands.js';

const str = fc.string({ maxLength: 40, unit: 'grapheme' });
const kind = fc.constantFrom('lock' as const, 'election' as const);
const t = fc.double({ min: 0, max: 1e12, noNaN: true });
const n = fc.integer({ min: 0, max: 3_600_000 });
const arbCommand: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    op: fc.constant('acquire' as const),
    t,
    kind,
    name: str,
    owner: str,
    value: fc.string({ maxLength: 5000 }),
    ttl_ms: n,
    wait: fc.boolean(),
    request_id: str,
    lease_id: str,
    new_lease_id: str,
    max_leases: n,
    max_waiters: n,
    max_per_lease: fc.integer({ min: 1, max: 1000 }),
    max_elections: fc.integer({ min: 1, max: 1_000_000 }),
  }),
  fc.record({ op: fc.constant('cancel_wait' as const), t, kind, name: str, request_id: str }),
  fc.record({ op: fc.constant('renew' as const), t, lease_ids: fc.array(str, { maxLength: 50 }) }),
  fc.record({ op: fc.constant('release' as const), t, kind, lease_id: str, name: str }),
  fc.record({ op: fc.constant('tick' as const), t }),
  fc.record({ op: fc.constant('proclaim' as const), t, name: str, lease_id: str, value: str }),
  fc.record({ op: fc.constant('member' as const), t, id: str, client_address: str }),
);

describe('the command encoding', () => {
  test('every command decodes to itself', () => {
    fc.assert(
      fc.property(arbCommand, (c) => expect(decodeCommand(encodeCommand(c))).toEqual(c)),
      {
        numRuns: 2_000,
      },
    );
  });

  test('is versioned: its first byte is the format, and entries of version 1 (JSON) still decode', () => {
    const c: Command = { op: 'tick', t: 12.5 };
    expect(encodeCommand(c)[0]).toBe(2);
    expect(decodeCommand(Buffer.from(JSON.stringify(c)))).toEqual(c);
    expect(() => decodeCommand(Uint8Array.of(9, 0))).toThrow(/format 9/);
  });

  test('an Acquire takes less than half the bytes its JSON took', () => {
    const c: Command = {
      op: 'acquire',
      t: 123456.789,
      kind: 'lock',
      name: 'jobs/nightly-report',
      owner: 'billing-7f9c:4242',
      value: '',
      ttl_ms: 15_000,
      wait: false,
      request_id: 'l:jobs/nightly-report\u00000d2f6c1e-8a3b-4c1d-9e2f-1a2b3c4d5e6f',
      lease_id: '',
      new_lease_id: '9f2c4e6a8b0d1f3e',
      max_leases: 1_000_000,
      max_waiters: 10_000,
      max_per_lease: 64,
      max_elections: 100_000,
    };
    expect(encodeCommand(c).byteLength).toBeLessThan(Buffer.byteLength(JSON.stringify(c)) / 2);
  });
});
