// A lease belongs to the identity that created it: the state machine refuses any other caller's
// use of it (but an admin's), deterministically, so every replica and every later leader agrees.
import type { Caller } from '../src/domain/commands.js';
import { LockStateMachine } from '../src/domain/state-machine.js';
import { granted, Log } from './fixtures/log.js';

const alice: Caller = { principal: 'alice', admin: false };
const bob: Caller = { principal: 'bob', admin: false };
const root: Caller = { principal: 'root', admin: true };

describe('lease ownership in the state machine', () => {
  test('a new lease belongs to its caller; another identity may not renew, release, acquire with or proclaim with it', () => {
    const log = new Log();
    const g = granted(log.acquire('a', { by: alice }));
    expect(log.sm.live(g.lease_id)!.principal).toBe('alice');
    const before = log.sm.live(g.lease_id)!.expires_at;
    log.t += 1_000;

    const renew = log.apply({ op: 'renew', lease_ids: [g.lease_id], by: [bob] });
    expect(renew).toEqual({ status: 'ok', missing: [], denied: [0] });
    expect(log.sm.live(g.lease_id)!.expires_at).toBe(before);
    expect(
      log.apply({ op: 'release', kind: 'lock', lease_id: g.lease_id, name: 'a', by: bob }),
    ).toEqual({ status: 'not_owner' });
    expect(
      log.apply({ op: 'release', kind: 'lock', lease_id: g.lease_id, name: '', by: bob }),
    ).toEqual({ status: 'not_owner' });
    expect(log.acquire('b', { lease_id: g.lease_id, by: bob })).toEqual({ status: 'not_owner' });
    expect(log.sm.mutex('lock', 'b')).toBeUndefined();
    expect(log.sm.mutex('lock', 'a')!.holder!.lease_id).toBe(g.lease_id);
    expect(log.sm.live(g.lease_id)!.expires_at).toBe(before);

    // Its own identity may.
    expect(log.apply({ op: 'renew', lease_ids: [g.lease_id], by: [alice] })).toEqual({
      status: 'ok',
      missing: [],
    });
    expect(log.sm.live(g.lease_id)!.expires_at).toBe(before + 1_000);
    granted(log.acquire('b', { lease_id: g.lease_id, by: alice }));
    expect(
      log.apply({ op: 'release', kind: 'lock', lease_id: g.lease_id, name: '', by: alice }),
    ).toEqual({ status: 'ok', released: true });
  });

  test('elections: another identity may not proclaim or resign with the leader’s lease', () => {
    const log = new Log();
    const g = granted(log.acquire('e', { kind: 'election', value: 'v1', by: alice }));
    const proclaim = (by: Caller) =>
      log.apply({ op: 'proclaim', name: 'e', lease_id: g.lease_id, value: 'v2', by });
    expect(proclaim(bob)).toEqual({ status: 'not_owner' });
    expect(log.sm.mutex('election', 'e')!.holder!.value).toBe('v1');
    expect(
      log.apply({ op: 'release', kind: 'election', lease_id: g.lease_id, name: 'e', by: bob }),
    ).toEqual({ status: 'not_owner' });
    expect(proclaim(alice)).toEqual({ status: 'ok' });
    expect(log.sm.mutex('election', 'e')!.holder!.value).toBe('v2');
  });

  test('an admin may use any lease; one renewal batch judges each caller on its own', () => {
    const log = new Log();
    const a = granted(log.acquire('a', { by: alice }));
    const b = granted(log.acquire('b', { by: bob }));
    const r = log.apply({
      op: 'renew',
      lease_ids: [a.lease_id, a.lease_id, b.lease_id, b.lease_id, 'gone'],
      by: [alice, bob, alice, root, bob],
    });
    expect(r).toEqual({ status: 'ok', missing: ['gone'], denied: [1, 2] });
    expect(
      log.apply({ op: 'release', kind: 'lock', lease_id: a.lease_id, name: 'a', by: root }),
    ).toEqual({ status: 'ok', released: true });
  });

  test('without identities (no --auth-config) every lease is everyone’s, as before', () => {
    const log = new Log();
    const nobody: Caller = { principal: '', admin: false };
    const g = granted(log.acquire('a', { by: nobody }));
    expect(Object.hasOwn(log.sm.live(g.lease_id)!, 'principal')).toBe(false);
    expect(log.apply({ op: 'renew', lease_ids: [g.lease_id], by: [nobody] })).toEqual({
      status: 'ok',
      missing: [],
    });
    // A lease made without an identity is nobody's: an identity may not take it over.
    expect(log.acquire('b', { lease_id: g.lease_id, by: alice })).toEqual({ status: 'not_owner' });
  });

  test('entries written before callers existed apply unchecked, on any lease', () => {
    const log = new Log();
    const g = granted(log.acquire('a', { by: alice }));
    expect(log.apply({ op: 'renew', lease_ids: [g.lease_id] })).toEqual({
      status: 'ok',
      missing: [],
    });
    expect(log.apply({ op: 'release', kind: 'lock', lease_id: g.lease_id, name: 'a' })).toEqual({
      status: 'ok',
      released: true,
    });
  });

  test('a retried request is answered only for the identity that made it', () => {
    const log = new Log();
    const g = granted(log.acquire('a', { by: alice, request_id: 'r1' }));
    expect(log.acquire('a', { by: bob, request_id: 'r1' })).toEqual({ status: 'not_owner' });
    expect(log.acquire('a', { by: alice, request_id: 'r1' })).toMatchObject({
      status: 'granted',
      lease_id: g.lease_id,
    });
    // A queued request resumes only for its own identity too.
    log.acquire('a', { by: bob, wait: true, request_id: 'w1' });
    expect(log.acquire('a', { by: alice, wait: true, request_id: 'w1' })).toEqual({
      status: 'not_owner',
    });
    expect(log.acquire('a', { by: bob, wait: true, request_id: 'w1' })).toMatchObject({
      status: 'queued',
    });
  });

  test('ownership holds on every replica and through a snapshot', async () => {
    const log = new Log();
    const g = granted(log.acquire('a', { by: alice }));
    const copy = new LockStateMachine();
    await copy.restore(log.sm.snapshot());
    const replica = new Log(copy);
    replica.index = log.index;
    expect(replica.apply({ op: 'renew', lease_ids: [g.lease_id], by: [bob] })).toMatchObject({
      denied: [0],
    });
    expect(replica.apply({ op: 'renew', lease_ids: [g.lease_id], by: [alice] })).toEqual({
      status: 'ok',
      missing: [],
    });
  });
});
