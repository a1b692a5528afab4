// Input validation and TTL rules of the public API on a real 3-node cluster: every violation is
// INVALID_ARGUMENT naming the field, and after every bad input the node still answers Status.
import type { ApiClient } from '../support/grpc-clients.js';
import { encodeStrings, rawUnary } from '../support/raw-client.js';
import { LocalCluster } from '../support/cluster.js';
import { expectAllUp, fresh, grpc, methods, type Methods, roles } from '../support/e2e.js';
import { expectCode, KeepAlive, openObserve, openWatch } from '../support/streams.js';

const ascii = (n: number) => 'x'.repeat(n);
/** n two-byte characters: 2n bytes of UTF-8, n UTF-16 code units. */
const twoByte = (n: number) => 'é'.repeat(n);
const CONTROLS = ['\n', '\t', '\r', '\u0000', '\u001b', '\u007f', '\u0085', '\u2028'];

type Service = 'lock' | 'election' | 'cluster';

interface BadCase {
  what: string;
  service: Service;
  method: string;
  req: Record<string, unknown>;
  field: string;
}

/** A valid lease id (16 hex digits); these cases fail before any lease is looked up. */
const LEASE = '0123456789abcdef';

function cases(): BadCase[] {
  const out: BadCase[] = [];
  const add = (
    service: Service,
    method: string,
    base: object,
    field: string,
    values: [string, unknown][],
  ) => {
    for (const [what, v] of values)
      out.push({
        what: `${method} ${field} ${what}`,
        service,
        method,
        req: { ...base, [field]: v },
        field,
      });
  };
  const nameValues = (max: number): [string, unknown][] => [
    ['empty', ''],
    [`of ${max + 1} bytes`, ascii(max + 1)],
    [`of ${max + 2} bytes in ${max / 2 + 1} characters`, twoByte(max / 2 + 1)],
    ...CONTROLS.map((ch): [string, unknown] => [
      `with control character U+${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
      `a${ch}b`,
    ]),
  ];

  const acquire = { name: 'n', owner: 'o' };
  add('lock', 'Acquire', acquire, 'name', nameValues(256));
  add('lock', 'Acquire', acquire, 'owner', nameValues(128));
  add('lock', 'Acquire', acquire, 'request_id', [['of 65 bytes', ascii(65)]]);
  add('lock', 'Acquire', acquire, 'ttl_ms', [
    ['above 3,600,000', 3_600_001],
    ['of 2^32-1', 4_294_967_295],
  ]);
  add('lock', 'Acquire', acquire, 'wait_ms', [
    ['above 600,000', 600_001],
    ['of 2^32-1', 4_294_967_295],
  ]);
  add('lock', 'Acquire', acquire, 'mode', [['of 7, no LockMode', 7]]);
  add('lock', 'Acquire', acquire, 'limit', [
    ['above 10,000', 10_001],
    ['of 2^32-1', 4_294_967_295],
  ]);
  add('lock', 'Acquire', { ...acquire, mode: 1 }, 'limit', [
    ['with SHARED mode', 2],
    ['of 1 with SHARED mode', 1],
  ]);
  add('lock', 'Acquire', acquire, 'lock_delay_ms', [
    ['above 60,000', 60_001],
    ['of 2^32-1', 4_294_967_295],
  ]);

  const campaign = { election: 'e', candidate: 'c' };
  add('election', 'Campaign', campaign, 'election', nameValues(256));
  add('election', 'Campaign', campaign, 'candidate', nameValues(128));
  add('election', 'Campaign', campaign, 'value', [
    ['of 4097 bytes', ascii(4097)],
    ['of 4098 bytes in 2049 characters', twoByte(2049)],
  ]);
  add('election', 'Campaign', campaign, 'request_id', [['of 65 bytes', ascii(65)]]);
  add('election', 'Campaign', campaign, 'ttl_ms', [['above 3,600,000', 3_600_001]]);
  add('election', 'Campaign', campaign, 'wait_ms', [['above 600,000', 600_001]]);

  add('lock', 'Describe', {}, 'name', nameValues(256));
  add('lock', 'Release', { lease_id: LEASE }, 'name', nameValues(256).slice(1)); // '' = all
  // Any other lease id is a lease: unknown ones are NOT_FOUND (see the lock tests).
  const longLease: [string, unknown] = ['of 65 bytes', ascii(65)];
  add('lock', 'Acquire', acquire, 'lease_id', [longLease]);
  add('lock', 'Release', { name: 'n' }, 'lease_id', [['empty', ''], longLease]);
  add('lock', 'Renew', {}, 'lease_id', [['empty', ''], longLease]);
  add('election', 'Proclaim', { lease_id: LEASE, value: 'v' }, 'election', nameValues(256));
  add('election', 'Proclaim', { election: 'e', lease_id: LEASE }, 'value', [
    ['of 4097 bytes', ascii(4097)],
  ]);
  add('election', 'Campaign', campaign, 'lease_id', [longLease]);
  add('election', 'Proclaim', { election: 'e', value: 'v' }, 'lease_id', [
    ['empty', ''],
    longLease,
  ]);
  add('election', 'Resign', { lease_id: LEASE }, 'election', nameValues(256));
  add('election', 'Resign', { election: 'e' }, 'lease_id', [['empty', ''], longLease]);
  add('election', 'Leader', {}, 'election', nameValues(256));
  return out;
}

describe('input validation (3-node cluster)', () => {
  const c = new LocalCluster();
  let leaderId: string;
  let followerId: string;
  let L: Methods;
  let F: Methods;

  beforeAll(async () => {
    await c.start();
    ({ leader: leaderId, follower: followerId } = await roles(c));
    L = methods(c.api(leaderId));
    F = methods(c.api(followerId));
  }, 30_000);
  afterAll(() => c.stop());

  async function expectStillUp(api: ApiClient): Promise<void> {
    const s = await api.call<{ id: string }>(api.cluster, 'Status', {}, 2_000);
    expect(s.id).toBeTruthy();
  }

  describe('violations are INVALID_ARGUMENT naming the field, via leader and follower alike', () => {
    test.each(cases().map((k) => [k.what, k] as const))('%s', async (_what, k) => {
      for (const id of [followerId, leaderId]) {
        const api = c.api(id);
        const e = await expectCode(
          api.call(api[k.service], k.method, k.req),
          grpc.status.INVALID_ARGUMENT,
        );
        expect(e.details.startsWith(`${k.field}:`)).toBe(true);
        await expectStillUp(api);
      }
    });
  });

  test('a lock name or owner that is not valid UTF-8 is INVALID_ARGUMENT naming the field', async () => {
    const bad = Buffer.from([0x61, 0xff, 0xfe, 0x62]); // "a", two bytes never valid, "b"
    const truncated = Buffer.from([0x61, 0xe2, 0x82]); // "a" and half of "€"
    for (const id of [followerId, leaderId]) {
      const address = c.node(id).client;
      for (const bytes of [bad, truncated]) {
        const describe = encodeStrings([[1, bytes]]);
        let e = await expectCode(
          rawUnary(address, 'LockService', 'Describe', describe),
          grpc.status.INVALID_ARGUMENT,
        );
        expect(e.details).toMatch(/^name:/);
        const acquire = encodeStrings([
          [1, Buffer.from('utf8-ok')],
          [2, bytes],
        ]);
        e = await expectCode(
          rawUnary(address, 'LockService', 'Acquire', acquire),
          grpc.status.INVALID_ARGUMENT,
        );
        expect(e.details).toMatch(/^owner:/);
        const campaign = encodeStrings([[1, bytes]]);
        e = await expectCode(
          rawUnary(address, 'ElectionService', 'Campaign', campaign),
          grpc.status.INVALID_ARGUMENT,
        );
        expect(e.details).toMatch(/^election:/);
      }
      await expectStillUp(c.api(id));
    }
    expect(await F.describe('utf8-ok')).toMatchObject({ held: false });
  });

  test('a request that is not protobuf at all is refused and the node stays up', async () => {
    for (const id of [followerId, leaderId]) {
      const address = c.node(id).client;
      const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
      for (const [service, method] of [
        ['LockService', 'Acquire'],
        ['ElectionService', 'Campaign'],
        ['ClusterService', 'TransferLeadership'],
      ] as const) {
        // grpc-js cannot decode it: INTERNAL, before any handler runs.
        await expectCode(rawUnary(address, service, method, garbage), grpc.status.INTERNAL);
      }
      await expectStillUp(c.api(id));
    }
  });

  test('Watch with a prefix over 256 bytes ends with INVALID_ARGUMENT naming prefix', async () => {
    const w = openWatch(F.api, ascii(257));
    try {
      const s = await w.end();
      expect(s.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(s.details).toMatch(/^prefix:/);
    } finally {
      await w.close();
    }
    await expectStillUp(F.api);
  });

  test.each([
    ['empty', ''],
    ['of 257 bytes', ascii(257)],
    ['with a control character', 'a\u0007b'],
  ])(
    'Observe of an election %s ends with INVALID_ARGUMENT naming election',
    async (_w, election) => {
      const o = openObserve(F.api, election);
      try {
        const s = await o.end();
        expect(s.code).toBe(grpc.status.INVALID_ARGUMENT);
        expect(s.details).toMatch(/^election:/);
      } finally {
        await o.close();
      }
      await expectStillUp(F.api);
    },
  );

  test('KeepAlive with an empty lease_id ends with INVALID_ARGUMENT naming lease_id', async () => {
    const k = new KeepAlive(F.api);
    try {
      k.renew('');
      const s = await k.end();
      expect(s.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(s.details).toMatch(/^lease_id:/);
    } finally {
      await k.close();
    }
    await expectStillUp(F.api);
  });

  test('the largest valid values are accepted: 256-byte name, 128-byte owner, 64-byte request_id', async () => {
    const name = twoByte(128); // 256 bytes
    const owner = ascii(127) + 'z'; // 128 bytes
    const request_id = ascii(62) + 'l1'; // 64 bytes
    const g = await F.acquire({ name, owner, request_id, ttl_ms: 3_600_000 });
    expect(g).toMatchObject({ acquired: true, holder: owner, ttl_ms: 3_600_000 });
    expect(await F.describe(name)).toMatchObject({ held: true, owner });
    await F.release(g.lease_id, name);
    // wait_ms at the maximum is accepted (and on a free lock, granted at once).
    const w = await F.acquire({ name: ascii(256), owner: twoByte(64), wait_ms: 600_000 });
    expect(w.acquired).toBe(true);
    await F.release(w.lease_id);
    await F.release(g.lease_id);
  });

  test('the largest valid election values are accepted: 256-byte election, 128-byte candidate, 4096-byte value', async () => {
    const election = ascii(255) + 'e';
    const value = twoByte(2048); // 4096 bytes
    const request_id = ascii(62) + 'e1'; // 64 bytes
    const g = await F.campaign({ election, candidate: twoByte(64), value, request_id });
    expect(g.elected).toBe(true);
    expect(await F.leader(election)).toMatchObject({ candidate: twoByte(64), value });
    await F.proclaim(election, g.lease_id, ascii(4096));
    expect(await F.leader(election)).toMatchObject({ value: ascii(4096) });
    await F.release(g.lease_id);
  });

  test('printable Unicode names, owners and values are accepted', async () => {
    const name = fresh('锁/ключ/🔒 with spaces');
    const g = await F.acquire({ name, owner: 'über-owner ✓' });
    expect(await F.describe(name)).toMatchObject({ held: true, owner: 'über-owner ✓' });
    await F.release(g.lease_id);
  });

  describe('ttl_ms', () => {
    test('0 means the default TTL of 15000 ms, for Acquire, Campaign and Renew', async () => {
      const g = await F.acquire({ name: fresh('ttl-default'), owner: 'o' });
      expect(g.ttl_ms).toBe(15_000);
      expect(await F.renew(g.lease_id)).toEqual({ lease_id: g.lease_id, ttl_ms: 15_000 });
      const e = await F.campaign({ election: fresh('ttl-default-e'), candidate: 'c', ttl_ms: 0 });
      expect(e.ttl_ms).toBe(15_000);
      await F.release(g.lease_id);
      await F.release(e.lease_id);
    });

    test.each([1, 500, 999, 1_000])(
      'a TTL of %i ms is raised to the minimum of 1000 ms and the granted TTL is returned',
      async (ttl) => {
        const g = await F.acquire({ name: fresh('ttl-min'), owner: 'o', ttl_ms: ttl });
        expect(g.ttl_ms).toBe(1_000);
        expect(await F.renew(g.lease_id)).toMatchObject({ ttl_ms: 1_000 });
        const e = await F.campaign({ election: fresh('ttl-min-e'), candidate: 'c', ttl_ms: ttl });
        expect(e.ttl_ms).toBe(1_000);
        await F.release(g.lease_id);
        await F.release(e.lease_id);
      },
    );

    test('a TTL between the minimum and the maximum is granted as asked', async () => {
      for (const ttl of [1_001, 2_500, 3_600_000]) {
        const g = await F.acquire({ name: fresh('ttl-asked'), owner: 'o', ttl_ms: ttl });
        expect(g.ttl_ms).toBe(ttl);
        await F.release(g.lease_id);
      }
    });

    test('a waiting Acquire is granted with the TTL it asked for', async () => {
      const name = fresh('ttl-waiter');
      const h = await F.acquire({ name, owner: 'h' });
      const waiting = F.acquire({ name, owner: 'w', ttl_ms: 500, wait_ms: 10_000 });
      await F.release(h.lease_id);
      expect(await waiting).toMatchObject({ acquired: true, ttl_ms: 1_000 });
      await F.release((await waiting).lease_id);
    });
  });

  test('no bad input crashed a node', async () => {
    await expectAllUp(c);
    // And they still serve: a full round trip through the follower.
    const g = await F.acquire({ name: fresh('after'), owner: 'o' });
    expect(g.acquired).toBe(true);
    await L.release(g.lease_id);
  });
});
