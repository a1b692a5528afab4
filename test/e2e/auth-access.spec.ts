// A 3-node cluster run with --auth-config, callers identified by bearer tokens: every action
// allowed, refused and unauthenticated (through a follower, which authorizes and forwards, and
// on the leader), Watch and Observe filtered by read grants, the denied metric and log, and
// the SDK's and CLI's tokens.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { QuorumLockClient, UnauthenticatedError } from '@quorumlock/client';
import { removeTempDir, tempDir } from '../../libs/testing/src/processes.js';
import { waitFor, within } from '../../libs/testing/src/wait.js';
import { ignoreRejection } from '../../libs/common/src/ignore.js';
import { authYaml, tokenOf } from '../support/auth.js';
import { LocalCluster, QUORUMLOCK_BIN } from '../support/cluster.js';
import { fresh, grpc, methods, type Methods, roles } from '../support/e2e.js';
import { ApiClient } from '../support/grpc-clients.js';
import { whileUnavailable } from '../support/retry.js';
import { scrape, valueOf } from '../support/metrics.js';
import {
  EventType,
  expectCode,
  HealthClient,
  openObserve,
  openWatch,
  syncWatch,
} from '../support/streams.js';

const run = promisify(execFile);

const USERS = { ops: ['admin', 'all'], billing: ['billing'], reports: ['reports'], monitor: [] };
const ROLES = {
  admin: [{ action: 'admin' }],
  all: [
    { action: 'lock', prefix: '' },
    { action: 'elect', prefix: '' },
    { action: 'read', prefix: '' },
  ],
  billing: [
    { action: 'lock', prefix: 'billing/' },
    { action: 'elect', prefix: 'billing/' },
    { action: 'read', prefix: 'billing/' },
  ],
  reports: [{ action: 'read', prefix: '' }],
};
const DENIED = grpc.status.PERMISSION_DENIED;
const UNAUTH = grpc.status.UNAUTHENTICATED;

describe('authentication and authorization (3-node cluster, --auth-config)', () => {
  const dir = tempDir('auth-access-');
  const file = join(dir, 'auth.yaml');
  const c = new LocalCluster({ token: tokenOf('monitor'), flags: ['--auth-config', file] });
  const opened: ApiClient[] = [];
  let leader = '';
  let follower = '';
  /** Per identity ('none': no credentials), a client of one node. */
  const as = (who: keyof typeof USERS | 'none', node = follower): Methods => {
    const api = new ApiClient(c.node(node).client, {}, who === 'none' ? undefined : tokenOf(who));
    opened.push(api);
    return methods(api);
  };

  beforeAll(async () => {
    writeFileSync(file, authYaml(USERS, ROLES));
    await c.start();
    ({ leader, follower } = await roles(c));
  }, 30_000);
  afterAll(async () => {
    for (const a of opened) a.close();
    await c.stop();
    removeTempDir(dir);
  });

  test.each(['follower', 'leader'])(
    'lock: allowed, refused, unauthenticated (on the %s)',
    async (on) => {
      const node = on === 'leader' ? leader : follower;
      const name = `billing/${fresh('lock')}`;
      const g = await whileUnavailable(() =>
        as('billing', node).acquire({ name, owner: 'b', request_id: name }),
      );
      expect(g.acquired).toBe(true);
      await expectCode(
        as('reports', node).acquire({ name: `billing/${fresh('x')}`, owner: 'r' }),
        DENIED,
        /^permission denied: lock on "billing\/.*": no role of "reports" grants it$/,
      );
      await expectCode(as('none', node).acquire({ name, owner: 'n' }), UNAUTH, /no credentials/);
      await expectCode(
        as('billing', node).release(g.lease_id, 'reports/x'),
        DENIED,
        'lock on "reports/x"',
      );
      expect(await as('billing', node).release(g.lease_id, name)).toEqual({ released: true });
    },
  );

  test('elect: allowed, refused, unauthenticated', async () => {
    const election = `billing/${fresh('e')}`;
    const g = await whileUnavailable(() =>
      as('billing').campaign({ election, candidate: 'b', value: 'v1', request_id: election }),
    );
    expect(g.elected).toBe(true);
    const r = as('reports');
    await expectCode(r.campaign({ election, candidate: 'r' }), DENIED, `elect on "${election}"`);
    await expectCode(r.proclaim(election, g.lease_id, 'v2'), DENIED, `elect on "${election}"`);
    await expectCode(r.resign(election, g.lease_id), DENIED, `elect on "${election}"`);
    await expectCode(as('none').campaign({ election, candidate: 'n' }), UNAUTH);
    await as('billing').proclaim(election, g.lease_id, 'v2');
    expect(await as('billing').resign(election, g.lease_id)).toEqual({ resigned: true });
  });

  test('read: allowed, refused, unauthenticated, for Describe, Leader, Watch and Observe', async () => {
    const name = `billing/${fresh('r')}`;
    expect(await as('reports').describe(name)).toMatchObject({ held: false });
    expect(await as('reports').leader(name)).toMatchObject({ has_leader: false });
    await expectCode(as('billing').describe('reports/q'), DENIED, 'read on "reports/q"');
    await expectCode(as('billing').leader('reports/q'), DENIED, 'read on "reports/q"');
    await expectCode(as('none').describe(name), UNAUTH);
    await expectCode(as('none').leader(name), UNAUTH);
    const denied = openWatch(as('billing').api, 'reports/');
    const unauth = openObserve(as('none').api, name);
    const observe = openObserve(as('reports').api, name);
    try {
      expect(await denied.end()).toMatchObject({
        code: DENIED,
        details: expect.stringContaining('read on prefix "reports/"') as unknown,
      });
      expect(await unauth.end()).toMatchObject({ code: UNAUTH });
      expect(await observe.next()).toMatchObject({ has_leader: false });
    } finally {
      await Promise.all([denied.close(), unauth.close(), observe.close()]);
    }
  });

  test('admin, and the cluster’s own state: any identity reads it, nobody unauthenticated', async () => {
    const id = leader;
    expect(await as('ops').api.call(as('ops').api.cluster, 'TransferLeadership', { id })).toEqual({
      leader_id: id,
    });
    const billing = as('billing').api;
    await expectCode(
      billing.call(billing.cluster, 'TransferLeadership', { id }),
      DENIED,
      'admin on the cluster',
    );
    const none = as('none').api;
    await expectCode(none.call(none.cluster, 'TransferLeadership', { id }), UNAUTH);
    const monitor = as('monitor').api;
    expect(
      (await monitor.call<{ members: unknown[] }>(monitor.cluster, 'ListMembers', {})).members,
    ).toHaveLength(3);
    expect(await as('monitor').status()).toMatchObject({ leader_id: leader });
    await expectCode(none.call(none.cluster, 'ListMembers', {}), UNAUTH);
    await expectCode(as('none').status(), UNAUTH);
  });

  test('health checks stay open: no credentials needed', async () => {
    const health = new HealthClient(c.node(follower).client);
    try {
      // Answered without credentials (a refusal would reject); the status itself follows the
      // follower's view of the leader, which a busy machine may lose for a moment.
      for (const service of ['', 'quorumlock.v1.LockService'])
        await waitFor(
          `"${service}" to report SERVING to a caller without credentials`,
          async () => (await health.check(service)).status === 'SERVING',
        );
    } finally {
      health.close();
    }
  });

  test('a Watch on a prefix partly readable delivers only the readable names', async () => {
    const tag = fresh('w');
    const billing = as('billing');
    const w = openWatch(billing.api, '');
    try {
      await syncWatch(w, billing.api, `billing/${tag}`);
      const ops = as('ops');
      const hidden = await ops.acquire({ name: `payroll/${tag}`, owner: 'o' });
      const shown = await ops.acquire({ name: `billing/${tag}`, owner: 'o' });
      expect(await w.next()).toMatchObject({ name: `billing/${tag}`, type: EventType.ACQUIRED });
      await ops.release(hidden.lease_id);
      await ops.release(shown.lease_id);
      expect(await w.next()).toMatchObject({ name: `billing/${tag}`, type: EventType.RELEASED });
      expect(w.buffered).toEqual([]);
    } finally {
      await w.close();
    }
  });

  test('refusals are counted by action on the node called, and logged without secrets', async () => {
    const before = await scrape(c.node(follower).http);
    const count = (e: typeof before, action: string) =>
      valueOf(e, 'quorumlock_auth_denied_total', { action });
    await expectCode(as('reports').acquire({ name: 'billing/m', owner: 'r' }), DENIED);
    await expectCode(as('reports').acquire({ name: 'billing/m', owner: 'r' }), DENIED);
    await expectCode(as('none').describe('billing/m'), UNAUTH);
    const billing = as('billing').api;
    await expectCode(billing.call(billing.cluster, 'TransferLeadership', {}), DENIED);
    const after = await scrape(c.node(follower).http);
    expect(count(after, 'lock') - count(before, 'lock')).toBe(2);
    expect(count(after, 'read') - count(before, 'read')).toBe(1);
    expect(count(after, 'admin') - count(before, 'admin')).toBe(1);
    expect(count(after, 'elect') - count(before, 'elect')).toBe(0);

    const refused = c
      .logs(follower)
      .split('\n')
      .filter((l) => l.includes('"call refused"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(refused).toContainEqual(
      expect.objectContaining({
        level: 40,
        rpc: 'LockService/Acquire',
        action: 'lock',
        code: 'PERMISSION_DENIED',
        on: '"billing/m"',
        principal: 'reports',
      }),
    );
    for (const who of Object.keys(USERS)) expect(c.logs(follower)).not.toContain(tokenOf(who));
  });

  test('the SDK sends its token on every call and stream; without one it is refused', async () => {
    const client = new QuorumLockClient({ endpoints: c.endpoints(), token: tokenOf('billing') });
    const anonymous = new QuorumLockClient({ endpoints: c.endpoints(), retry: { maxAttempts: 1 } });
    try {
      const name = `billing/${fresh('sdk')}`;
      const lock = await client.acquire(name, { ttlMs: 3_000 });
      // Renewed over the KeepAlive stream within a third of its TTL.
      const renewed = new Promise((resolve) => lock.once('renewed', resolve));
      expect(await within(renewed, 5_000)).toMatchObject({ ttlMs: 3_000 });
      expect((await client.describe(name)).held).toBe(true);
      await lock.release();
      // Watch: markers until the stream, once registered, delivers one.
      const stop = new AbortController();
      const seen = new Set<string>();
      const watching = (async () => {
        for await (const e of client.watch('billing/', { signal: stop.signal })) seen.add(e.name);
      })();
      const markers: string[] = [];
      await waitFor('the SDK watch to deliver an event', async () => {
        markers.push(`billing/${fresh('marker')}`);
        await (await client.acquire(markers.at(-1)!)).release();
        return markers.some((m) => seen.has(m));
      });
      stop.abort();
      await ignoreRejection(watching, 'the watch ends by its abort');
      await expect(anonymous.describe(name)).rejects.toBeInstanceOf(UnauthenticatedError);
    } finally {
      await Promise.all([client.close(), anonymous.close()]);
    }
  });

  test('the CLI takes --token or QUORUMLOCK_TOKEN', async () => {
    const cli = (args: string[], env: Record<string, string> = {}) =>
      run(process.execPath, [QUORUMLOCK_BIN, ...args, '--endpoints', c.endpoints().join(',')], {
        env: { PATH: process.env.PATH ?? '', ...env },
        timeout: 30_000,
      }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const name = `billing/${fresh('cli')}`;
    const held = await cli(['acquire', name, '--token', tokenOf('billing'), '--json']);
    expect(held.code).toBe(0);
    const viaEnv = await cli(['describe', name], { QUORUMLOCK_TOKEN: tokenOf('reports') });
    expect(viaEnv).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`${name} held by`) as unknown,
    });
    const refused = await cli(['describe', name]);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('no credentials');
    const lease = (JSON.parse(held.stdout) as { leaseId: string }).leaseId;
    expect((await cli(['release', lease], { QUORUMLOCK_TOKEN: tokenOf('billing') })).code).toBe(0);
  });
});
