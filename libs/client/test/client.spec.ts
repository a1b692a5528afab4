// The SDK against a real 3-node cluster: locks, keep-alive, loss, withLock, elections, watch.
import { LocalCluster } from '../../../test/support/cluster.js';
import {
  DeadlineExceededError,
  InvalidArgumentError,
  LockLostError,
  LockNotAcquiredError,
  type LockEvent,
  NotElectedError,
  NotFoundError,
  QuorumLockError,
  type RenewedEvent,
} from '../src/index.js';
import { clientFor, closeClients, fresh, nextEvent, nextMatching } from './helpers.js';
import { sleep, waitFor } from '../../testing/src/wait.js';

describe('QuorumLockClient (3-node cluster)', () => {
  const c = new LocalCluster();
  beforeAll(() => c.start(), 30_000);
  afterEach(() => closeClients());
  afterAll(() => c.stop());

  test('acquire, tryAcquire on a held lock, a timed-out wait, describe, release', async () => {
    const a = clientFor(c, { owner: 'alice' });
    const b = clientFor(c, { owner: 'bob' });
    const name = fresh('basic');
    const lock = await a.acquire(name, { ttlMs: 5000 });
    expect(typeof lock.fencingToken).toBe('bigint');
    expect(lock).toMatchObject({ name, ttlMs: 5000, owner: 'alice', held: true });
    expect(lock.leaseId).not.toBe('');

    expect(await b.tryAcquire(name)).toBeNull();
    const started = performance.now();
    const refused = await b.acquire(name, { waitMs: 300 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LockNotAcquiredError);
    expect(refused).toMatchObject({ holder: 'alice', lockName: name });
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);

    expect(await b.describe(name)).toMatchObject({
      held: true,
      owner: 'alice',
      fencingToken: lock.fencingToken,
      waiters: 0,
    });
    expect(await lock.release()).toBe(true);
    expect(lock.held).toBe(false);
    expect(lock.signal.aborted).toBe(true);
    const next = await b.tryAcquire(name);
    expect(next!.fencingToken).toBeGreaterThan(lock.fencingToken);
    await next!.release();
  });

  test('auto-renew keeps a 1 s lock over several TTLs', async () => {
    const a = clientFor(c);
    const name = fresh('renew');
    const lock = await a.acquire(name, { ttlMs: 1000 });
    const renewals: RenewedEvent[] = [];
    lock.on('renewed', (e) => renewals.push(e));
    // Time is the point here: hold the lock over four TTLs.
    await sleep(4000);
    expect(lock.held).toBe(true);
    expect(lock.signal.aborted).toBe(false);
    // One renewal per TTL at the very least, or the lease would be gone (the client aims at three).
    expect(renewals.length).toBeGreaterThanOrEqual(4);
    const d = await clientFor(c).describe(name);
    expect(d).toMatchObject({ held: true, fencingToken: lock.fencingToken });
    await lock.release();
  });

  test('a lease released by another client is reported lost by the next renewal, not by running out', async () => {
    const a = clientFor(c);
    const name = fresh('stolen');
    const lock = await a.acquire(name, { ttlMs: 1500 });
    const renewals: RenewedEvent[] = [];
    lock.on('renewed', (e) => renewals.push(e));
    await waitFor('a renewal', () => renewals.length > 0, 3000);
    const lost = nextEvent<[bigint, LockLostError]>(lock, 'lost', 5000);
    expect(await clientFor(c).release(lock.leaseId)).toBe(true);
    const released = performance.now();
    const [token, err] = await lost;
    expect(token).toBe(lock.fencingToken);
    expect(err).toBeInstanceOf(LockLostError);
    // NOT_FOUND is the server answering a renewal: a lease the client gives up because its TTL
    // ran out unconfirmed is lost with DEADLINE_EXCEEDED instead.
    expect(err.code).toBe(5);
    expect(lock.signal.reason).toBe(err);
    // And the first renewal sent after the release was the one told: none was confirmed.
    expect(renewals.filter((e) => e.sentAt >= released)).toEqual([]);
    expect(lock.held).toBe(false);
  });

  test('withLock releases after fn, also when fn throws, and passes the lock in', async () => {
    const a = clientFor(c);
    const name = fresh('with');
    const token = await a.withLock(name, async (lock) => {
      expect(lock.signal.aborted).toBe(false);
      expect((await a.describe(name)).held).toBe(true);
      return lock.fencingToken;
    });
    expect(typeof token).toBe('bigint');
    expect((await a.describe(name)).held).toBe(false);
    await expect(
      a.withLock(name, () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await a.describe(name)).held).toBe(false);
  });

  test('withLock aborts fn’s signal when the lock is lost, and rejects with LockLostError', async () => {
    const a = clientFor(c);
    const name = fresh('with-lost');
    const run = a.withLock(
      name,
      (lock) =>
        new Promise<string>((resolve) => {
          void clientFor(c).release(lock.leaseId);
          lock.signal.addEventListener('abort', () => resolve('stopped'));
        }),
      { ttlMs: 1500 },
    );
    await expect(run).rejects.toBeInstanceOf(LockLostError);
  });

  test('per-call AbortSignal (a cancelled wait leaves the queue) and deadline', async () => {
    const a = clientFor(c, { owner: 'holder' });
    const b = clientFor(c);
    const name = fresh('abort');
    const lock = await a.acquire(name, { ttlMs: 5000 });
    const ctrl = new AbortController();
    const waiting = b.acquire(name, { waitMs: 10_000, signal: ctrl.signal });
    await waitFor('the waiter to queue', async () => (await a.describe(name)).waiters === 1);
    const reason = new Error('changed my mind');
    ctrl.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await waitFor('the wait to be cancelled', async () => (await a.describe(name)).waiters === 0);
    await expect(b.describe(name, { timeoutMs: 1 })).rejects.toBeInstanceOf(DeadlineExceededError);
    await lock.release();
  });

  test('typed errors instead of gRPC codes', async () => {
    const a = clientFor(c);
    const invalid = await a.acquire('', {}).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(InvalidArgumentError);
    expect(invalid).toBeInstanceOf(QuorumLockError);
    expect((invalid as QuorumLockError).codeName).toBe('INVALID_ARGUMENT');
    await expect(a.renew('0123456789abcdef')).rejects.toBeInstanceOf(NotFoundError);
    expect(await a.release('0123456789abcdef')).toBe(false);
  });

  test('campaign, leader, proclaim, observe (no leader too), resign hands over', async () => {
    const a = clientFor(c, { owner: 'alice' });
    const b = clientFor(c, { owner: 'bob' });
    const e = fresh('election');
    const stop = new AbortController();
    const seen = b.observe(e, { signal: stop.signal })[Symbol.asyncIterator]();
    try {
      expect(await nextMatching(seen, () => true, 5000)).toMatchObject({ hasLeader: false });
      expect((await a.leader(e)).hasLeader).toBe(false);

      const lead = await a.campaign(e, 'v1', { ttlMs: 2000 });
      expect(lead).toMatchObject({ election: e, value: 'v1', held: true });
      await nextMatching(
        seen,
        (l) => l.value === 'v1' && l.fencingToken === lead.fencingToken,
        5000,
      );
      await expect(b.campaign(e, 'w', { waitMs: 200 })).rejects.toBeInstanceOf(NotElectedError);

      await lead.proclaim('v2');
      expect(await b.leader(e)).toMatchObject({ hasLeader: true, candidate: 'alice', value: 'v2' });
      await nextMatching(seen, (l) => l.value === 'v2', 5000);

      const queued = b.campaign(e, 'w', { waitMs: 10_000, ttlMs: 2000 });
      expect(await lead.resign()).toBe(true);
      await expect(lead.proclaim('v3')).rejects.toBeInstanceOf(QuorumLockError);
      const next = await queued;
      expect(next.fencingToken).toBeGreaterThan(lead.fencingToken);
      await nextMatching(seen, (l) => l.candidate === 'bob' && l.value === 'w', 5000);
      await next.resign();
      await nextMatching(seen, (l) => !l.hasLeader, 5000);
    } finally {
      stop.abort();
      await seen.return?.(undefined);
    }
  });

  test('watch streams lock events for a prefix', async () => {
    const a = clientFor(c, { owner: 'watcher-test' });
    const prefix = fresh('watched');
    const stop = new AbortController();
    const events = a.watch(`${prefix}/`, { signal: stop.signal })[Symbol.asyncIterator]();
    try {
      // Subscribing is not acknowledged: lock and unlock a probe until the stream shows it.
      let probing = true;
      const probe = (async () => {
        while (probing)
          await a.acquire(`${prefix}/probe`, { ttlMs: 2000 }).then((l) => l.release());
      })();
      await nextMatching(events, (e) => e.name === `${prefix}/probe`, 5000).finally(() => {
        probing = false;
      });
      await probe;
      const notProbe = (e: LockEvent) => e.name !== `${prefix}/probe`;

      const lock = await a.acquire(`${prefix}/x`, { ttlMs: 2000 });
      const got = await nextMatching(events, notProbe, 5000);
      expect(got).toMatchObject({ name: `${prefix}/x`, type: 'ACQUIRED', owner: 'watcher-test' });
      expect(got.fencingToken).toBe(lock.fencingToken);
      await lock.release();
      expect(await nextMatching(events, notProbe, 5000)).toMatchObject({
        name: `${prefix}/x`,
        type: 'RELEASED',
      });
      await a.acquire(`${prefix}-other`, { ttlMs: 2000 }).then((l) => l.release());
      const y = await a.acquire(`${prefix}/y`, { ttlMs: 2000 });
      expect(await nextMatching(events, notProbe, 5000)).toMatchObject({ name: `${prefix}/y` });
      await y.release();
    } finally {
      stop.abort();
      await events.return?.(undefined);
    }
  });
});
