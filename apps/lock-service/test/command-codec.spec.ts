import fc from 'fast-check';
import { type Command, decodeCommand, encodeCommand } from '../src/domain/commands.js';

const str = fc.string({ maxLength: 40, unit: 'grapheme' });
const kind = fc.constantFrom('lock' as const, 'election' as const);
const t = fc.double({ min: 0, max: 1e12, noNaN: true });
const n = fc.integer({ min: 0, max: 3_600_000 });
const caller = fc.record({ principal: str, admin: fc.boolean() });
/** A command's caller: absent (entries of older versions) or given. */
const by = fc.option(caller, { nil: undefined });
const withBy = <T extends object>(c: T, b: unknown): T => (b === undefined ? c : { ...c, by: b });
const arbCommand: fc.Arbitrary<Command> = fc.oneof(
  fc
    .record({
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
      by,
      hold: fc.record(
        {
          shared: fc.constant(true as const),
          limit: fc.integer({ min: 2, max: 10_000 }),
          delay_ms: fc.integer({ min: 1, max: 60_000 }),
        },
        { requiredKeys: [] },
      ),
    })
    .map(({ by: b, hold, ...c }) => ({ ...withBy(c, b), ...hold })),
  fc.record({ op: fc.constant('cancel_wait' as const), t, kind, name: str, request_id: str }),
  fc.record({ op: fc.constant('renew' as const), t, lease_ids: fc.array(str, { maxLength: 50 }) }),
  fc
    .record({ t, renewals: fc.array(fc.tuple(str, caller), { minLength: 1, maxLength: 50 }) })
    .map(({ t, renewals }) => ({
      op: 'renew' as const,
      t,
      lease_ids: renewals.map(([id]) => id),
      by: renewals.map(([, c]) => c),
    })),
  fc
    .record({ op: fc.constant('release' as const), t, kind, lease_id: str, name: str, by })
    .map(({ by: b, ...c }) => withBy(c, b)),
  fc.record({ op: fc.constant('tick' as const), t }),
  fc
    .record({ op: fc.constant('proclaim' as const), t, name: str, lease_id: str, value: str, by })
    .map(({ by: b, ...c }) => withBy(c, b)),
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
    expect(encodeCommand(c)[0]).toBe(4);
    expect(decodeCommand(Buffer.from(JSON.stringify(c)))).toEqual(c);
    expect(() => decodeCommand(Uint8Array.of(9, 0))).toThrow(/format 9/);
  });

  test('entries of format 2 (before callers) still decode, with no caller', () => {
    // Written by the previous version's encoder.
    const hex = (h: string) => Buffer.from(h, 'hex');
    expect(
      decodeCommand(
        hex(
          '0200000000000071974000066a6f62732f61027731009875000b6c3a6a6f62732f61007231001030303030303030303030303030306161e8070a4064',
        ),
      ),
    ).toEqual({
      op: 'acquire',
      t: 1500.25,
      kind: 'lock',
      name: 'jobs/a',
      owner: 'w1',
      value: '',
      ttl_ms: 15000,
      wait: false,
      request_id: 'l:jobs/a\u0000r1',
      lease_id: '',
      new_lease_id: '00000000000000aa',
      max_leases: 1000,
      max_waiters: 10,
      max_per_lease: 64,
      max_elections: 100,
    });
    expect(
      decodeCommand(
        hex(
          '020200000000000299400210303030303030303030303030303061611030303030303030303030303030306262',
        ),
      ),
    ).toEqual({ op: 'renew', t: 1600.5, lease_ids: ['00000000000000aa', '00000000000000bb'] });
    expect(
      decodeCommand(hex('02030000000000909a400110303030303030303030303030303061610165')),
    ).toEqual({
      op: 'release',
      t: 1700,
      kind: 'election',
      lease_id: '00000000000000aa',
      name: 'e',
    });
    expect(
      decodeCommand(hex('02050000000000209c4001651030303030303030303030303030306161027632')),
    ).toEqual({ op: 'proclaim', t: 1800, name: 'e', lease_id: '00000000000000aa', value: 'v2' });
  });

  test('acquires of format 3 (before hold kinds) still decode, as EXCLUSIVE mutexes without a delay', () => {
    // Written by the previous version's encoder.
    const v3 = Buffer.from(
      '0300000000000071974000066a6f62732f6102773100987501027231001030303030303030303030303030306161e8070a4064010762696c6c696e67',
      'hex',
    );
    const c = decodeCommand(v3);
    expect(c).toEqual({
      op: 'acquire',
      t: 1500.25,
      kind: 'lock',
      name: 'jobs/a',
      owner: 'w1',
      value: '',
      ttl_ms: 15000,
      wait: true,
      request_id: 'r1',
      lease_id: '',
      new_lease_id: '00000000000000aa',
      max_leases: 1000,
      max_waiters: 10,
      max_per_lease: 64,
      max_elections: 100,
      by: { principal: 'billing', admin: false },
    });
    // The same acquire in format 4 costs three bytes more: its hold kind, all defaults.
    expect(encodeCommand(c).byteLength).toBe(v3.byteLength + 3);
  });

  test('a batch of renewals names each identity once', () => {
    const lease_ids = Array.from({ length: 100 }, (_, i) => i.toString(16).padStart(16, '0'));
    const one = (by: { principal: string; admin: boolean }[]) =>
      encodeCommand({ op: 'renew', t: 1, lease_ids, by }).byteLength;
    const anonymous = encodeCommand({ op: 'renew', t: 1, lease_ids }).byteLength;
    const billing = { principal: 'billing-service-with-a-long-name', admin: false };
    // One byte per lease names its caller; the identity itself is written once.
    expect(one(lease_ids.map(() => billing))).toBeLessThan(anonymous + 100 + 40);
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
