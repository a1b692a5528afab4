import fc from 'fast-check';
import { type Entry, EntryType } from '../../../libs/raft/src/index.js';
import { encodeCommand, type UnstampedCommand } from '../src/domain/commands.js';
import { keysOf } from '../src/domain/model.js';
import { LockStateMachine } from '../src/domain/state-machine.js';

/** Everything restorable about a state machine, in an order that does not depend on history. */
function dump(sm: LockStateMachine) {
  const leases = [...sm.leases.values()]
    .map((l) => ({
      ...l,
      snap: 0,
      hi: 0,
      holds: [...keysOf(l.holds)].sort(),
      waits: [...keysOf(l.waits)].sort(),
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
  const mutexes = [...sm.allMutexes()]
    .map((m) => ({ ...m, snap: 0 }))
    .sort((a, b) => `${a.kind}${a.name}`.localeCompare(`${b.kind}${b.name}`));
  return { clock: sm.clock, leases, mutexes, next: sm.nextExpiry() };
}

const NAMES = ['a', 'b', 'c'];
const arbCommand = fc.oneof(
  fc.record({
    op: fc.constant('acquire' as const),
    kind: fc.constantFrom('lock' as const, 'election' as const),
    name: fc.constantFrom(...NAMES),
    owner: fc.constantFrom('o1', 'o2', 'o3'),
    value: fc.constantFrom('', 'v'),
    ttl_ms: fc.constantFrom(1_000, 5_000),
    wait: fc.boolean(),
    request_id: fc.constantFrom('', 'r1', 'r2', 'r3', 'r4'),
    lease_id: fc.constantFrom('', 'L1', 'L2', 'L3'),
    new_lease_id: fc.constantFrom('L1', 'L2', 'L3', 'L4', 'L5'),
    max_leases: fc.constant(100),
    max_waiters: fc.constant(100),
  }),
  fc.record({
    op: fc.constant('release' as const),
    kind: fc.constantFrom('lock' as const, 'election' as const),
    lease_id: fc.constantFrom('L1', 'L2', 'L3', 'L4', 'L5'),
    name: fc.constantFrom('', ...NAMES),
  }),
  fc.record({
    op: fc.constant('renew' as const),
    lease_ids: fc.subarray(['L1', 'L2', 'L3', 'L4', 'L5']),
  }),
  fc.record({
    op: fc.constant('cancel_wait' as const),
    kind: fc.constantFrom('lock' as const, 'election' as const),
    name: fc.constantFrom(...NAMES),
    request_id: fc.constantFrom('r1', 'r2', 'r3', 'r4'),
  }),
  fc.record({ op: fc.constant('tick' as const) }),
);
const arbStep = fc.record({ cmd: arbCommand, advance: fc.integer({ min: 0, max: 2_000 }) });

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

/** The metrics' figures computed the slow way, by scanning every mutex. */
function scanTally(sm: LockStateMachine) {
  const t = { locksHeld: 0, electionsLed: 0, lockWaiters: 0, electionWaiters: 0 };
  for (const m of sm.allMutexes()) {
    if (m.holder) t[m.kind === 'lock' ? 'locksHeld' : 'electionsLed']++;
    t[m.kind === 'lock' ? 'lockWaiters' : 'electionWaiters'] += m.queue.length;
  }
  return t;
}

describe('the tally kept for metrics', () => {
  test('equals a scan of the state after any commands, and after a restore', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbStep, { minLength: 1, maxLength: 80 }), async (steps) => {
        const sm = new LockStateMachine();
        const apply = applier(sm);
        let maxToken = 0;
        for (const s of steps) {
          apply(s.cmd, s.advance);
          for (const m of sm.allMutexes()) maxToken = Math.max(maxToken, m.holder?.token ?? 0);
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
