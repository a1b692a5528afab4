import { EntryType } from '../../../libs/raft/src/index.js';
import { type Command, encodeCommand, type UnstampedCommand } from '../src/domain/commands.js';
import { Lessor } from '../src/domain/lessor.js';
import { LockStateMachine } from '../src/domain/state-machine.js';

/** A state machine, its lessor and a hand-driven clock. */
function setup() {
  const sm = new LockStateMachine();
  let now = 1000;
  const lessor = new Lessor(sm, () => now);
  let index = 0;
  const apply = (c: UnstampedCommand, term = 1) =>
    sm.apply({
      index: ++index,
      term,
      type: EntryType.Normal,
      data: encodeCommand({ ...c, t: 0 } as Command),
    });
  const create = (id: string, ttl = 10_000) =>
    apply({
      op: 'acquire',
      kind: 'lock',
      name: id,
      owner: 'o',
      value: '',
      ttl_ms: ttl,
      wait: false,
      request_id: '',
      lease_id: '',
      new_lease_id: id,
      max_leases: 10,
      max_waiters: 10,
    });
  return { sm, lessor, apply, create, advance: (ms: number) => (now += ms), now: () => now };
}

describe('Lessor: the leader’s lease clock', () => {
  test('a new leader gives a lease with no checkpoint a full TTL from its own start', () => {
    const s = setup();
    s.create('aaaaaaaaaaaaaaaa');
    s.advance(9_000); // the old leader may have renewed it in memory until just now
    s.lessor.startLeading();
    expect(s.lessor.remainingMs('aaaaaaaaaaaaaaaa')).toBe(10_000);
  });

  test('a checkpointed lease counts its remaining TTL from when this node applied the checkpoint', () => {
    const s = setup();
    s.create('aaaaaaaaaaaaaaaa');
    s.apply({ op: 'checkpoint', leases: [['aaaaaaaaaaaaaaaa', 4000, 0]] });
    s.advance(1500);
    s.lessor.startLeading();
    expect(s.lessor.remainingMs('aaaaaaaaaaaaaaaa')).toBe(2500);
    s.advance(2500);
    expect(s.lessor.isExpired('aaaaaaaaaaaaaaaa')).toBe(true);
  });

  test('renewals stay in memory only while no checkpoint is persisted or in flight', () => {
    const s = setup();
    s.create('aaaaaaaaaaaaaaaa');
    s.lessor.startLeading();
    s.advance(5000);
    expect(s.lessor.renewInMemory('aaaaaaaaaaaaaaaa')).toBe(true);
    expect(s.lessor.remainingMs('aaaaaaaaaaaaaaaa')).toBe(10_000);
    const cp = s.lessor.takeCheckpoint();
    expect(cp).toEqual([['aaaaaaaaaaaaaaaa', 10_000, 0]]);
    // Proposed, not applied yet: a renewal now must go through the log, after the checkpoint.
    expect(s.lessor.renewInMemory('aaaaaaaaaaaaaaaa')).toBe(false);
    s.apply({ op: 'checkpoint', leases: cp });
    expect(s.lessor.renewInMemory('aaaaaaaaaaaaaaaa')).toBe(false);
    s.apply({ op: 'renew', lease_ids: ['aaaaaaaaaaaaaaaa'] });
    expect(s.lessor.renewInMemory('aaaaaaaaaaaaaaaa')).toBe(true);
  });

  test('every new lease is checkpointed, so that leader changes cannot keep granting it full TTLs', () => {
    const s = setup();
    s.lessor.startLeading();
    s.create('aaaaaaaaaaaaaaaa');
    s.advance(3000);
    expect(s.lessor.takeCheckpoint()).toEqual([['aaaaaaaaaaaaaaaa', 7000, 0]]);
  });

  test('a lease renewed within the quiet period is not checkpointed yet; once quiet, it is', () => {
    const s = setup();
    s.create('aaaaaaaaaaaaaaaa');
    s.lessor.startLeading();
    s.advance(1000);
    expect(s.lessor.renewInMemory('aaaaaaaaaaaaaaaa')).toBe(true);
    s.advance(2000);
    // Renewed 2 s ago, quiet period 2.5 s: its holder is alive, keep renewals in memory.
    expect(s.lessor.takeCheckpoint(2500)).toEqual([]);
    s.advance(1000);
    // Quiet for 3 s: it may belong to a dead client, so its remaining TTL is persisted.
    expect(s.lessor.takeCheckpoint(2500)).toEqual([['aaaaaaaaaaaaaaaa', 7000, 0]]);
  });

  test('expiry is decided only while leading, skips leases with a waiting caller, and is taken once', () => {
    const s = setup();
    s.create('aaaaaaaaaaaaaaaa', 2000);
    s.create('bbbbbbbbbbbbbbbb', 2000);
    s.advance(5000);
    expect(s.lessor.takeExpired(() => false)).toEqual([]);
    s.lessor.startLeading();
    s.advance(2000);
    const keep = (id: string) => id === 'bbbbbbbbbbbbbbbb';
    expect(s.lessor.takeExpired(keep)).toEqual([['aaaaaaaaaaaaaaaa', 0]]);
    expect(s.lessor.takeExpired(keep)).toEqual([]);
    s.lessor.expireSettled('aaaaaaaaaaaaaaaa');
    expect(s.lessor.takeExpired(keep)).toEqual([['aaaaaaaaaaaaaaaa', 0]]);
    // The kept lease is not expired by the scan; it is reported as due for renewal instead.
    expect(s.lessor.dueForRenewal(['bbbbbbbbbbbbbbbb'])).toEqual(['bbbbbbbbbbbbbbbb']);
  });

  test('stepping down forgets every deadline', () => {
    const s = setup();
    s.create('aaaaaaaaaaaaaaaa');
    s.lessor.startLeading();
    s.lessor.stopLeading();
    expect(s.lessor.isLeading).toBe(false);
    expect(s.lessor.renewInMemory('aaaaaaaaaaaaaaaa')).toBe(false);
    s.advance(60_000);
    expect(s.lessor.takeExpired(() => false)).toEqual([]);
  });
});
