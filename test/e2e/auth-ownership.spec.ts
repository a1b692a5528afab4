// A lease belongs to the identity that created it, on a real 3-node cluster with --auth-config:
// another identity, even one granted the same names, may not renew, keep alive, release,
// acquire with, proclaim with or resign with it; an admin may. The owner is replicated state:
// it holds on a new leader, and on a restarted node that loaded it from its snapshot and log.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDir, tempDir } from '../../libs/testing/src/processes.js';
import { waitFor } from '../../libs/testing/src/wait.js';
import { authYaml, tokenOf } from '../support/auth.js';
import { LocalCluster } from '../support/cluster.js';
import { fresh, grpc, methods, type Methods, roles } from '../support/e2e.js';
import { ApiClient } from '../support/grpc-clients.js';
import { whileUnavailable } from '../support/retry.js';
import { expectCode, KeepAlive } from '../support/streams.js';

const SAME_GRANTS = [
  { action: 'lock', prefix: 'jobs/' },
  { action: 'elect', prefix: 'jobs/' },
  { action: 'read', prefix: 'jobs/' },
];
const USERS = { alice: ['worker'], bob: ['worker'], ops: ['admin', 'worker'], monitor: [] };
const ROLES = { worker: SAME_GRANTS, admin: [{ action: 'admin' }] };
const NOT_YOURS =
  /^permission denied: (lock|elect) on lease [0-9a-f]+: the lease belongs to another identity$/;

describe('lease ownership (3-node cluster, --auth-config)', () => {
  const dir = tempDir('auth-ownership-');
  const file = join(dir, 'auth.yaml');
  const c = new LocalCluster({
    token: tokenOf('monitor'),
    flags: ['--auth-config', file, '--snapshot-entries', '20'],
  });
  const opened: ApiClient[] = [];
  const as = (who: keyof typeof USERS, node: string): Methods => {
    const api = new ApiClient(c.node(node).client, {}, tokenOf(who));
    opened.push(api);
    return methods(api);
  };

  beforeAll(async () => {
    writeFileSync(file, authYaml(USERS, ROLES));
    await c.start();
  }, 30_000);
  afterAll(async () => {
    for (const a of opened) a.close();
    await c.stop();
    removeTempDir(dir);
  });

  /** Everything bob might do with alice's lease is refused, on node `on`. */
  async function bobIsRefused(on: string, lease: string, lock: string): Promise<void> {
    const bob = as('bob', on);
    const refused = (call: () => Promise<unknown>) =>
      expectCode(whileUnavailable(call), grpc.status.PERMISSION_DENIED, NOT_YOURS);
    await refused(() => bob.renew(lease));
    await refused(() => bob.release(lease));
    await refused(() => bob.release(lease, lock));
    await refused(() =>
      bob.acquire({ name: `jobs/${fresh('other')}`, owner: 'bob', lease_id: lease }),
    );
  }

  test('another identity may not use a lease; its own and an admin may', async () => {
    const { leader, follower } = await roles(c);
    const lock = `jobs/${fresh('a')}`;
    const g = await whileUnavailable(() =>
      as('alice', follower).acquire({
        name: lock,
        owner: 'alice',
        ttl_ms: 30_000,
        request_id: lock,
      }),
    );
    for (const on of [follower, leader]) await bobIsRefused(on, g.lease_id, lock);
    expect(await as('alice', follower).describe(lock)).toMatchObject({ held: true });

    const ka = new KeepAlive(as('bob', follower).api);
    try {
      ka.renew(g.lease_id);
      expect(await ka.end()).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    } finally {
      await ka.close();
    }
    const own = new KeepAlive(as('alice', follower).api);
    try {
      own.renew(g.lease_id);
      expect(await own.next()).toEqual({ lease_id: g.lease_id, ttl_ms: 30_000 });
    } finally {
      await own.close();
    }

    expect(await as('ops', leader).renew(g.lease_id)).toEqual({
      lease_id: g.lease_id,
      ttl_ms: 30_000,
    });
    expect(await as('ops', follower).release(g.lease_id)).toEqual({ released: true });
  });

  test('an election’s lease: another identity may not proclaim or resign with it', async () => {
    const { follower } = await roles(c);
    const election = `jobs/${fresh('e')}`;
    const g = await whileUnavailable(() =>
      as('alice', follower).campaign({
        election,
        candidate: 'alice',
        value: 'v1',
        request_id: election,
      }),
    );
    const bob = as('bob', follower);
    await expectCode(
      bob.proclaim(election, g.lease_id, 'v2'),
      grpc.status.PERMISSION_DENIED,
      NOT_YOURS,
    );
    await expectCode(bob.resign(election, g.lease_id), grpc.status.PERMISSION_DENIED, NOT_YOURS);
    expect(await bob.leader(election)).toMatchObject({ candidate: 'alice', value: 'v1' });
    expect(await as('alice', follower).resign(election, g.lease_id)).toEqual({ resigned: true });
  });

  test('ownership holds on a new leader, and on a restarted node from its snapshot and log', async () => {
    const old = await c.leader();
    const lock = `jobs/${fresh('failover')}`;
    const g = await whileUnavailable(() =>
      as('alice', old).acquire({ name: lock, owner: 'alice', ttl_ms: 30_000, request_id: lock }),
    );
    // Enough entries for every node to snapshot (--snapshot-entries 20) past the grant.
    for (let i = 0; i < 30; i++) await whileUnavailable(() => as('alice', old).renew(g.lease_id));

    await c.kill(old);
    const next = await c.leader();
    expect(next).not.toBe(old);
    await bobIsRefused(next, g.lease_id, lock);
    expect(await as('alice', next).renew(g.lease_id)).toEqual({
      lease_id: g.lease_id,
      ttl_ms: 30_000,
    });

    c.startNode(old);
    await c.leader();
    const ops = as('ops', next).api;
    // Refused (FAILED_PRECONDITION) until the leader has heard from the restarted node.
    await waitFor('leadership to move to the restarted node', () =>
      ops.call(ops.cluster, 'TransferLeadership', { id: old }),
    );
    expect(await c.leader()).toBe(old);
    await bobIsRefused(old, g.lease_id, lock);
    expect(await as('alice', old).release(g.lease_id)).toEqual({ released: true });
  });
});
