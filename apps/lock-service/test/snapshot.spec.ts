import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { type Entry, EntryType } from '../../../libs/raft/src/index.js';
import { encodeCommand, type UnstampedCommand } from '../src/domain/commands.js';
import { holdersOf } from '../src/domain/lock-kinds.js';
import { keysOf, requestKey } from '../src/domain/model.js';
import { Restorer } from '../src/domain/restore.js';
import { SnapshotParser } from '../src/domain/snapshot-format.js';
import { LockStateMachine } from '../src/domain/state-machine.js';

/** Everything restorable about a state machine, in an order that does not depend on history. */
function dump(sm: LockStateMachine) {
  const leases = [...sm.leases.values()]
    .map((l) => ({
      ...l,
      holds: [...keysOf(l.holds)].sort(),
      waits: [...keysOf(l.waits)].sort(),
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
  const mutexes = [...sm.allMutexes()].sort((a, b) =>
    `${a.kind}${a.name}`.localeCompare(`${b.kind}${b.name}`),
  );
  const retries = REQUESTS.map((r) => sm.recorded(r));
  return { clock: sm.clock, leases, mutexes, retries, next: sm.nextExpiry() };
}

const NAMES = ['a', 'b', 'c'];
const REQUESTS = ['r1', 'r2', 'r3', 'r4'];
// Lease ids of both kinds the lease table keeps: a leader's 16 hex digits, and any other.
const IDS = ['L1', '00000000000000a2', 'L3', 'ffffffff00000004', '8000000000000005'];
/** Callers among a few identities (and none: entries of older versions, or no auth). */
const arbBy = fc.option(
  fc.record({ principal: fc.constantFrom('', 'alice', 'bob'), admin: fc.boolean() }),
  { nil: undefined },
);
const arbCommand = fc.oneof(
  fc
    .record({
      op: fc.constant('acquire' as const),
      kind: fc.constantFrom('lock' as const, 'election' as const),
      name: fc.constantFrom(...NAMES),
      owner: fc.constantFrom('o1', 'o2', 'o3'),
      value: fc.constantFrom('', 'v'),
      ttl_ms: fc.constantFrom(1_000, 5_000),
      wait: fc.boolean(),
      request_id: fc.constantFrom('', ...REQUESTS),
      lease_id: fc.constantFrom('', ...IDS.slice(0, 3)),
      new_lease_id: fc.constantFrom(...IDS),
      max_leases: fc.constant(100),
      max_waiters: fc.constant(100),
      by: arbBy,
      // Hold kinds (the state machine applies them to elections too, though the API never asks).
      hold: fc.constantFrom(
        {},
        { shared: true as const },
        { limit: 2 },
        { limit: 3 },
        { delay_ms: 1500 },
      ),
    })
    .map(({ hold, ...c }) => ({ ...c, ...hold })),
  fc.record({
    op: fc.constant('release' as const),
    kind: fc.constantFrom('lock' as const, 'election' as const),
    lease_id: fc.constantFrom(...IDS),
    name: fc.constantFrom('', ...NAMES),
    by: arbBy,
  }),
  fc.record({ ids: fc.subarray(IDS), by: arbBy }).map(({ ids, by }) => ({
    op: 'renew' as const,
    lease_ids: ids,
    ...(by ? { by: ids.map(() => by) } : {}),
  })),
  fc.record({
    op: fc.constant('cancel_wait' as const),
    kind: fc.constantFrom('lock' as const, 'election' as const),
    name: fc.constantFrom(...NAMES),
    request_id: fc.constantFrom(...REQUESTS),
  }),
  fc.record({ op: fc.constant('tick' as const) }),
);
// Now and then a step past the retry window (90 s), so that records age out while a
// snapshot is being read.
const arbAdvance = fc.oneof(
  { weight: 9, arbitrary: fc.integer({ min: 0, max: 2_000 }) },
  { weight: 1, arbitrary: fc.constant(100_000) },
);
const arbStep = fc.record({ cmd: arbCommand, advance: arbAdvance });

/** Applies commands as a log would; returns the entries it made. */
function applier(sm: LockStateMachine) {
  let index = 0;
  let t = 1_000;
  sm.apply({ index: ++index, term: 1, type: EntryType.Noop, data: new Uint8Array() });
  return (c: UnstampedCommand, advance: number) => {
    t += advance;
    const e: Entry = {
      index: ++index,
      term: 1,
      type: EntryType.Normal,
      data: encodeCommand({ ...c, t }),
    };
    sm.apply(e);
  };
}

/** An Acquire of a free lock by a new lease. */
function acquireCmd(name: string, leaseId: string, requestId = `r-${name}`): UnstampedCommand {
  return {
    op: 'acquire',
    kind: 'lock',
    name,
    owner: 'o',
    value: '',
    ttl_ms: 3_600_000,
    wait: false,
    request_id: requestId,
    lease_id: '',
    new_lease_id: leaseId,
    max_leases: 1_000_000,
    max_waiters: 1,
  };
}

/** The metrics' figures computed the slow way, by scanning every mutex. */
function scanTally(sm: LockStateMachine) {
  const t = { locksHeld: 0, electionsLed: 0, lockWaiters: 0, electionWaiters: 0 };
  for (const m of sm.allMutexes()) {
    if (m.holder) t[m.kind === 'lock' ? 'locksHeld' : 'electionsLed']++;
    t[m.kind === 'lock' ? 'lockWaiters' : 'electionWaiters'] += m.queue.length;
  }
  return t;
}

describe('retry keys', () => {
  test('a request id keys the retry table by the first 16 bytes of its SHA-256, as snapshots already stored them', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (id) => {
        const digest = createHash('sha256').update(id).digest();
        const key = requestKey(id);
        expect(key).toHaveLength(16);
        expect(Buffer.from(key, 'latin1').equals(digest.subarray(0, 16))).toBe(true);
      }),
    );
  });
});

describe('the tally kept for metrics', () => {
  test('equals a scan of the state after any commands, and after a restore', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbStep, { minLength: 1, maxLength: 80 }), async (steps) => {
        const sm = new LockStateMachine();
        const apply = applier(sm);
        let maxToken = 0;
        for (const s of steps) {
          apply(s.cmd, s.advance);
          for (const m of sm.allMutexes())
            for (const h of holdersOf(m)) maxToken = Math.max(maxToken, h.token);
          const { maxToken: kept, ...counts } = sm.tally;
          expect(counts).toEqual(scanTally(sm));
          expect(kept).toBe(maxToken);
        }
        const copy = new LockStateMachine();
        await copy.restore([...sm.snapshot()]);
        const { maxToken: _, ...counts } = copy.tally;
        expect(counts).toEqual(scanTally(sm));
      }),
      { numRuns: 300 },
    );
  });
});

describe('lock state snapshots', () => {
  test('a snapshot read while entries keep applying restores the state as it was when it began', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbStep, { minLength: 1, maxLength: 60 }),
        fc.array(arbStep, { maxLength: 60 }),
        fc.integer({ min: 1, max: 64 }),
        async (before, during, chunkBytes) => {
          const sm = new LockStateMachine();
          const apply = applier(sm);
          for (const s of before) apply(s.cmd, s.advance);
          const expected = dump(sm);
          // Chunks are pulled one at a time, an entry applying between two pulls.
          const it = sm.snapshot(chunkBytes)[Symbol.iterator]();
          const chunks: Uint8Array[] = [];
          let i = 0;
          for (let next = it.next(); !next.done; next = it.next()) {
            chunks.push(next.value);
            if (i < during.length) apply(during[i]!.cmd, during[i++]!.advance);
          }
          const copy = new LockStateMachine();
          await copy.restore(chunks);
          expect(dump(copy)).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a snapshot of a large state streams in bounded chunks and restores it', async () => {
    const sm = new LockStateMachine();
    const apply = applier(sm);
    const n = 20_000;
    for (let i = 0; i < n; i++)
      apply(
        {
          op: 'acquire',
          kind: 'lock',
          name: `jobs/${i}`,
          owner: 'o',
          value: '',
          ttl_ms: 3_600_000,
          wait: false,
          request_id: `req-${i}`,
          lease_id: '',
          new_lease_id: `lease-${i}`,
          max_leases: n,
          max_waiters: 1,
        },
        0.01,
      );
    const chunks = [...sm.snapshot()];
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(c.byteLength).toBeLessThanOrEqual(256 * 1024);
    const copy = new LockStateMachine();
    await copy.restore(chunks);
    expect(dump(copy)).toEqual(dump(sm));
    expect(copy.recorded(`req-${n - 1}`)).toEqual(sm.recorded(`req-${n - 1}`));
  });

  test('snapshots of versions 1 and 2 (one JSON document) still restore', async () => {
    const v2 = {
      version: 2,
      leases: [{ id: 'l1', ttl_ms: 5000, seq: 0, expires_at: 9_000, holds: ['l:a'], waits: [] }],
      mutexes: [
        {
          kind: 'lock',
          name: 'a',
          holder: { lease_id: 'l1', owner: 'o', value: '', token: 7, request_id: 'x' },
          queue: [],
        },
      ],
      dedup: [
        [
          'l:a\u0000x',
          { t: 8_000, r: { status: 'granted', lease_id: 'l1', token: 7, ttl_ms: 5000 } },
        ],
      ],
      members: [['n1', '127.0.0.1:1']],
      clock: 8_500,
    };
    const sm = new LockStateMachine();
    await sm.restore([Buffer.from(JSON.stringify(v2))]);
    expect(sm.live('l1')).toMatchObject({ expires_at: 9_000, holds: 'a' });
    expect(sm.mutex('lock', 'a')!.holder).toEqual({
      lease_id: 'l1',
      owner: 'o',
      value: '',
      token: 7,
    });
    expect(sm.recorded('l:a\u0000x')).toMatchObject({ status: 'granted', token: 7 });
  });

  test('leases keep their identity through a snapshot; a lease without one has no field for it', async () => {
    const sm = new LockStateMachine();
    const apply = applier(sm);
    const acquire = (name: string, lease: string, principal?: string) =>
      apply(
        {
          op: 'acquire',
          kind: 'lock',
          name,
          owner: 'o',
          value: '',
          ttl_ms: 60_000,
          wait: false,
          request_id: '',
          lease_id: '',
          new_lease_id: lease,
          max_leases: 100,
          max_waiters: 1,
          ...(principal === undefined ? {} : { by: { principal, admin: false } }),
        },
        1,
      );
    acquire('a', 'L1', 'billing');
    acquire('b', 'L2', '');
    acquire('c', 'L3');
    acquire('d', 'L4', 'billing');
    acquire('e', 'L5', 'reports');
    apply(
      {
        op: 'acquire',
        kind: 'lock',
        name: 'f',
        owner: 'o',
        value: '',
        ttl_ms: 60_000,
        wait: false,
        request_id: 'stolen',
        lease_id: 'L1',
        new_lease_id: 'L6',
        max_leases: 100,
        max_waiters: 1,
        by: { principal: 'reports', admin: false },
      },
      1,
    );
    expect(sm.recorded('stolen')).toEqual({ status: 'not_owner' });
    const copy = new LockStateMachine();
    await copy.restore([...sm.snapshot(7)]);
    expect(dump(copy)).toEqual(dump(sm));
    expect(copy.live('L1')!.principal).toBe('billing');
    expect(copy.live('L5')!.principal).toBe('reports');
    for (const id of ['L2', 'L3']) expect(Object.hasOwn(copy.live(id)!, 'principal')).toBe(false);
    // A refusal for another identity's lease is remembered as one, like any answer.
    expect(copy.recorded('stolen')).toEqual({ status: 'not_owner' });
  });

  test('a snapshot of version 3 (before identities) still restores: its leases have none', async () => {
    // Written by the previous version: lock jobs/a held by L1 with L2 waiting (request r2),
    // election e led by L3, member n1, and the retry record of r1.
    const v3 = Buffer.from(
      '514c53030000000000588f40000000000000f03f01026e310e3132372e302e302e313a3730303101024c319875000000000040cf400001024c329875000000008040cf4002723201024c339875000000000041cf40000200066a6f62732f6101024c3102773100000000000000004001024c32027732000272320201016501024c330277310176000000000000104000031082f3e9c695dc6b8d1b11818d5701919e0000000000408f40000000000000f03f00024c310000000000000040987500',
      'hex',
    );
    const sm = new LockStateMachine();
    await sm.restore([v3.subarray(0, 40), v3.subarray(40)]);
    expect(sm.live('L1')).toMatchObject({ holds: 'jobs/a', expires_at: 16_000 });
    expect(sm.live('L2')).toMatchObject({ waits: 'jobs/a', created_for: 'r2' });
    expect(sm.mutex('lock', 'jobs/a')!.queue).toHaveLength(1);
    expect(sm.mutex('election', 'e')!.holder).toMatchObject({ lease_id: 'L3', value: 'v' });
    expect(sm.memberAddress('n1')).toBe('127.0.0.1:7001');
    expect(sm.recorded('r1')).toMatchObject({ status: 'granted', lease_id: 'L1', token: 2 });
    for (const id of ['L1', 'L2', 'L3'])
      expect(Object.hasOwn(sm.live(id)!, 'principal')).toBe(false);
    // Snapshotted again, it is the current version and the same state.
    const again = new LockStateMachine();
    const chunks = [...sm.snapshot()];
    expect(chunks[0]![3]).toBe(5);
    await again.restore(chunks);
    expect(dump(again)).toEqual(dump(sm));
  });

  test('a snapshot of version 4 (before hold kinds) still restores: its holds are EXCLUSIVE mutexes', async () => {
    // Written by the previous version: lock jobs/a held by L1 (identity billing) with L2
    // waiting (request r2), election e led by L3, and the retry records of r1 and r3.
    const v4 = Buffer.from(
      '514c53040000000000408f40000000000000004000040762696c6c696e6701024c319875000000000040cf400272310101024c329875000000000040cf400272320101024c339875000000000040cf40027233010200066a6f62732f6101024c3102773100000000000000f03f01024c32027732000272320201016501024c330277330176000000000000084000031082f3e9c695dc6b8d1b11818d5701919e0000000000408f40000000000000f03f00024c31000000000000f03f98750310e49d63b2a8a78f048bafc4b4590029600000000000408f40000000000000004000024c330000000000000840987500',
      'hex',
    );
    const sm = new LockStateMachine();
    await sm.restore([v4.subarray(0, 50), v4.subarray(50)]);
    expect(sm.mutex('lock', 'jobs/a')).toEqual({
      kind: 'lock',
      name: 'jobs/a',
      holder: { lease_id: 'L1', owner: 'w1', value: '', token: 1 },
      queue: [{ lease_id: 'L2', owner: 'w2', value: '', request_id: 'r2' }],
    });
    expect(sm.live('L1')).toMatchObject({ holds: 'jobs/a', principal: 'billing' });
    expect(sm.live('L2')).toMatchObject({ waits: 'jobs/a' });
    expect(sm.mutex('election', 'e')!.holder).toMatchObject({ lease_id: 'L3', token: 3 });
    expect(sm.recorded('r1')).toMatchObject({ status: 'granted', lease_id: 'L1', token: 1 });
    const again = new LockStateMachine();
    const chunks = [...sm.snapshot()];
    expect(chunks[0]![3]).toBe(5);
    await again.restore(chunks);
    expect(dump(again)).toEqual(dump(sm));
  });

  test('a snapshot holding a record twice is refused, not guessed at', async () => {
    const lease = { id: 'l1', ttl_ms: 5000, seq: 0, expires_at: 9_000, holds: [], waits: [] };
    const mutex = { kind: 'lock', name: 'a', holder: null, queue: [] };
    const doc = (leases: object[], mutexes: object[]) =>
      Buffer.from(
        JSON.stringify({ version: 2, leases, mutexes, dedup: [], members: [], clock: 8_500 }),
      );
    await expect(new LockStateMachine().restore([doc([lease, lease], [])])).rejects.toThrow(
      'snapshot: lease l1 twice',
    );
    await expect(
      new LockStateMachine().restore([doc([lease, { ...lease, id: 'l2' }], [mutex, mutex])]),
    ).rejects.toThrow('snapshot: lock a twice');
  });

  test('a restore that fails half way leaves the state it replaces as it was', async () => {
    const sm = new LockStateMachine();
    const apply = applier(sm);
    for (let i = 0; i < 300; i++) apply(acquireCmd(`k${i}`, i.toString(16).padStart(16, '0')), 1);
    const before = dump(sm);
    const good = Buffer.concat([...sm.snapshot()]);
    // The same snapshot cut short: its records are read, and installed, before the end is missed.
    const cut = [good.subarray(0, good.length >> 1)];
    await expect(sm.restore(cut)).rejects.toThrow('the stream ended before its last record');
    expect(dump(sm)).toEqual(before);
    // A record found twice is found only once the one before it was installed.
    const lease = { id: 'l1', ttl_ms: 5000, expires_at: 9_000 };
    const twice = JSON.stringify({
      version: 2,
      leases: [lease, { ...lease, id: 'l2' }],
      mutexes: [1, 2].map(() => ({ kind: 'lock', name: 'a', holder: null, queue: [] })),
      dedup: [],
      members: [],
      clock: 8_500,
    });
    await expect(sm.restore([Buffer.from(twice)])).rejects.toThrow('snapshot: lock a twice');
    expect(dump(sm)).toEqual(before);
  });

  test('records are installed as their chunk is read, not once the whole snapshot is', () => {
    const sm = new LockStateMachine();
    const apply = applier(sm);
    for (let i = 0; i < 2_000; i++) apply(acquireCmd(`k${i}`, `x${i}`), 1);
    const chunks = [...sm.snapshot(4096)];
    const parser = new SnapshotParser();
    const restorer = new Restorer();
    const installed: number[] = [];
    for (const c of chunks.slice(0, chunks.length >> 1)) {
      parser.push(c);
      restorer.add(parser.take());
      const st = restorer.state;
      installed.push(st.leases.size + st.mutexes.size + st.retries.size);
    }
    // Half the chunks in, part of the 6,000 records (leases, locks, retry records) are in the
    // state being built, more with each chunk.
    expect(installed.at(-1)).toBeGreaterThan(1_000);
    expect(installed.at(-1)).toBeLessThan(6_000);
    expect(new Set(installed).size).toBeGreaterThan(10);
  });
});

describe('a state at the limits', () => {
  /**
   * 140,000 elections with 4 KiB values (within the default limits): 573 MB of values, beyond
   * the longest string V8 makes (about 536 M characters), which is where one JSON snapshot
   * document fails on every replica, at every restart.
   */
  test('a state larger than any string snapshots and restores, streamed into another replica', async () => {
    const sm = new LockStateMachine();
    const apply = applier(sm);
    const value = 'v'.repeat(4096);
    const n = 140_000;
    for (let i = 0; i < n; i++)
      apply(
        {
          op: 'acquire',
          kind: 'election',
          name: `e/${i}`,
          owner: `c${i}`,
          value,
          ttl_ms: 3_600_000,
          wait: false,
          request_id: '',
          lease_id: '',
          new_lease_id: `lease-${i}`,
          max_leases: 1_000_000,
          max_waiters: 1,
          max_elections: 1_000_000,
        },
        0.001,
      );
    let bytes = 0;
    let largest = 0;
    async function* stream() {
      for (const chunk of sm.snapshot()) {
        bytes += chunk.byteLength;
        largest = Math.max(largest, chunk.byteLength);
        yield chunk;
      }
    }
    const copy = new LockStateMachine();
    await copy.restore(stream());
    expect(bytes).toBeGreaterThan(2 ** 29); // more than the longest string
    expect(largest).toBeLessThanOrEqual(256 * 1024);
    expect(copy.leaseCount).toBe(n);
    expect(copy.mutex('election', `e/${n - 1}`)!.holder).toMatchObject({
      owner: `c${n - 1}`,
      value,
    });
  }, 180_000);
});
