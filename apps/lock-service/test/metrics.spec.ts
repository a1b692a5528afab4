// Lock metrics without a cluster: the metered LockApi around a scripted one, the state gauges
// over a state machine fed by hand, and the Raft context of log lines.
import { Registry } from 'prom-client';
import { waitFor } from '../../../libs/testing/src/wait.js';
import { EventBus } from '../src/domain/event-bus.js';
import { EventLoopLag } from '../src/metrics/event-loop.js';
import { EntryType } from '../../../libs/raft/src/index.js';
import { parseExposition, valueOf } from '../../../test/support/metrics.js';
import type { CallContext } from '../src/domain/api.js';
import { encodeCommand, type UnstampedCommand } from '../src/domain/commands.js';
import { Code, DomainError, leaseNotFound } from '../src/domain/errors.js';
import { LockStateMachine } from '../src/domain/state-machine.js';
import { createLogger } from '../src/server.js';
import { LockCallMetrics, registerLockStateMetrics } from '../src/metrics/lock-metrics.js';
import { Telemetry } from '../src/metrics/telemetry.js';
import { FakeLockApi } from './fixtures/fake-api.js';

const ctx: CallContext = {};
const acquired = { acquired: true, lease_id: 'aa', fencing_token: 7, ttl_ms: 1000, holder: 'me' };
const notAcquired = { ...acquired, acquired: false, lease_id: '' };
const req = (wait_ms = 0) => ({
  name: 'a',
  owner: 'me',
  ttl_ms: 0,
  wait_ms,
  request_id: '',
  lease_id: '',
  mode: 0,
  limit: 0,
  lock_delay_ms: 0,
});

describe('the metered LockApi', () => {
  let register: Registry;
  let fake: FakeLockApi;
  let api: ReturnType<LockCallMetrics['wrap']>;
  const read = async () => parseExposition(await register.metrics());

  beforeEach(() => {
    register = new Registry();
    fake = new FakeLockApi();
    api = new LockCallMetrics(register).wrap(fake);
  });

  it('has every result series from the start', async () => {
    const e = await read();
    for (const result of ['granted', 'contended', 'timeout', 'error'])
      expect(e.samples).toContainEqual({
        name: 'quorumlock_lock_acquires_total',
        labels: { result },
        value: 0,
      });
  });

  it('classifies acquires and times the grants by whether they could wait', async () => {
    fake.script.set('acquire', acquired);
    await api.acquire(req(), ctx);
    await api.acquire(req(5000), ctx);
    fake.script.set('acquire', notAcquired);
    await api.acquire(req(), ctx);
    await api.acquire(req(5000), ctx);
    fake.script.set('acquire', new DomainError(Code.DEADLINE_EXCEEDED, 'late'));
    await expect(api.acquire(req(5000), ctx)).rejects.toThrow('late');
    fake.script.set('acquire', new DomainError(Code.UNAVAILABLE, 'no leader'));
    await expect(api.acquire(req(), ctx)).rejects.toThrow('no leader');

    const e = await read();
    const count = (result: string) => valueOf(e, 'quorumlock_lock_acquires_total', { result });
    expect([count('granted'), count('contended'), count('timeout'), count('error')]).toEqual([
      2, 1, 2, 1,
    ]);
    const granted = 'quorumlock_lock_acquire_duration_seconds_count';
    expect(valueOf(e, granted, { wait: 'false' })).toBe(1);
    expect(valueOf(e, granted, { wait: 'true' })).toBe(1);
  });

  it('leaves calls forwarded from another node to that node’s count', async () => {
    fake.script.set('acquire', acquired);
    await api.acquire(req(), { forwarded: true });
    fake.script.set('renew', { lease_id: 'aa', ttl_ms: 1000 });
    await api.renew({ lease_id: 'aa' }, { forwarded: true });
    const e = await read();
    expect(valueOf(e, 'quorumlock_lock_acquires_total')).toBe(0);
    expect(valueOf(e, 'quorumlock_lease_renewals_total')).toBe(0);
    expect(fake.calls.map((c) => c.method)).toEqual(['acquire', 'renew']);
  });

  it('counts renewals, releases and campaigns by result', async () => {
    fake.script.set('renew', { lease_id: 'aa', ttl_ms: 1000 });
    await api.renew({ lease_id: 'aa' }, ctx);
    fake.script.set('renew', leaseNotFound());
    await expect(api.renew({ lease_id: 'aa' }, ctx)).rejects.toThrow();
    fake.script.set('release', { released: true });
    await api.release({ lease_id: 'aa', name: 'a' }, ctx);
    fake.script.set('release', { released: false });
    await api.release({ lease_id: 'aa', name: 'a' }, ctx);
    fake.script.set('campaign', { elected: false, lease_id: '', fencing_token: 0, ttl_ms: 0 });
    await api.campaign({ ...req(), election: 'e', candidate: 'c', value: '' }, ctx);

    const e = await read();
    expect(valueOf(e, 'quorumlock_lease_renewals_total', { result: 'ok' })).toBe(1);
    expect(valueOf(e, 'quorumlock_lease_renewals_total', { result: 'not_found' })).toBe(1);
    expect(valueOf(e, 'quorumlock_lock_releases_total', { result: 'released' })).toBe(1);
    expect(valueOf(e, 'quorumlock_lock_releases_total', { result: 'not_held' })).toBe(1);
    expect(valueOf(e, 'quorumlock_election_campaigns_total', { result: 'contended' })).toBe(1);
  });

  it('passes the other methods through untouched', async () => {
    fake.script.set('describe', { held: false });
    fake.serving = false;
    expect(await api.describe({ name: 'a' }, ctx)).toEqual({ held: false });
    expect(api.isServing()).toBe(false);
    expect(fake.calls.map((c) => c.method)).toEqual(['describe']);
  });
});

describe('lock state metrics', () => {
  it('follow the replicated state and count expiries', async () => {
    const bus = new EventBus();
    const sm = new LockStateMachine(bus.emit);
    const register = new Registry();
    registerLockStateMetrics(register, sm, bus);
    let index = 0;
    let t = 1;
    const apply = (c: UnstampedCommand, type = EntryType.Normal) =>
      sm.apply({ index: ++index, term: 1, type, data: encodeCommand({ ...c, t }) });
    sm.apply({ index: ++index, term: 1, type: EntryType.Noop, data: new Uint8Array() });
    const acquire = (name: string, owner: string, wait: boolean) =>
      apply({
        op: 'acquire',
        kind: 'lock',
        name,
        owner,
        value: '',
        ttl_ms: 1000,
        wait,
        request_id: wait ? `r-${owner}` : '',
        lease_id: '',
        new_lease_id: `${owner}${'0'.repeat(16)}`.slice(0, 16),
        max_leases: 100,
        max_waiters: 100,
      });
    const first = acquire('a', 'o1', false);
    acquire('a', 'o2', true);
    acquire('b', 'o3', false);

    let e = parseExposition(await register.metrics());
    expect(valueOf(e, 'quorumlock_locks_held')).toBe(2);
    expect(valueOf(e, 'quorumlock_leases_active')).toBe(3);
    expect(valueOf(e, 'quorumlock_lock_waiters', { kind: 'lock' })).toBe(1);
    expect(valueOf(e, 'quorumlock_fencing_token_max')).toBe(index);

    expect(first.status).toBe('granted');
    const lease = (first as { lease_id: string }).lease_id;
    // The waiter's lease is renewed (its call keeps it alive); the holder's runs out.
    t = 500;
    apply({ op: 'renew', lease_ids: [`o2${'0'.repeat(14)}`, `o3${'0'.repeat(14)}`] });
    t = 1001;
    apply({ op: 'tick' });
    expect(sm.leases.has(lease)).toBe(false);
    e = parseExposition(await register.metrics());
    expect(valueOf(e, 'quorumlock_leases_expired_total')).toBe(1);
    expect(valueOf(e, 'quorumlock_locks_expired_total')).toBe(1);
    // The waiter got the lock with the expiring entry's index as its token.
    expect(valueOf(e, 'quorumlock_lock_waiters')).toBe(0);
    expect(valueOf(e, 'quorumlock_fencing_token_max')).toBe(index);
  });
});

describe('Telemetry log context', () => {
  it('marks lines logged before the node started', () => {
    const lines: string[] = [];
    const telemetry = new Telemetry();
    telemetry.close();
    const logger = telemetry.withRaftContext(
      createLogger({ logFormat: 'json', logLevel: 'info' }, { write: (l) => lines.push(l) }).child({
        node: 'n1',
      }),
    );
    logger.child({ component: 'x' }).info({ term: 9 }, 'hello');
    expect(JSON.parse(lines[0] ?? 'null')).toMatchObject({ node: 'n1', term: 9, role: 'starting' });
  });
});

describe('event-loop lag', () => {
  it('records a stall of the event loop in its histogram and as the maximum since the last scrape', async () => {
    const register = new Registry();
    const lag = new EventLoopLag(register);
    // How many samples the histogram holds, read without a scrape (which resets the maximum).
    const samples = async () =>
      valueOf(
        parseExposition(
          await register.getSingleMetricAsString('quorumlock_event_loop_lag_seconds'),
        ),
        'quorumlock_event_loop_lag_seconds_count',
      );
    lag.start();
    try {
      await waitFor('a first sample', async () => (await samples()) > 0, 5_000);
      const before = await samples();
      const stallUntil = performance.now() + 120;
      while (performance.now() < stallUntil); // the event loop is blocked: what lag measures
      await waitFor('the sample after the stall', async () => (await samples()) > before, 5_000);
      let e = parseExposition(await register.metrics());
      expect(valueOf(e, 'quorumlock_event_loop_lag_max_seconds')).toBeGreaterThanOrEqual(0.09);
      expect(valueOf(e, 'quorumlock_event_loop_lag_seconds_count')).toBeGreaterThan(0);
      expect(valueOf(e, 'quorumlock_event_loop_lag_seconds_bucket', { le: '0.05' })).toBeLessThan(
        valueOf(e, 'quorumlock_event_loop_lag_seconds_count'),
      );
      // The maximum is per scrape: the next scrape does not report the stall again.
      e = parseExposition(await register.metrics());
      expect(valueOf(e, 'quorumlock_event_loop_lag_max_seconds')).toBeLessThan(0.09);
    } finally {
      lag.stop();
    }
  });
});
