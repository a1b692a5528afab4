// The gateway admits calls as gRPC does: the bearer token of the Authorization header names the
// caller, its roles decide, refusals are server errors whose data.code names the status, and
// subscriptions deliver only what the caller may read.
import { createHash } from 'node:crypto';
import { ClusterView } from '../../src/domain/cluster-view.js';
import type { Mutex } from '../../src/domain/model.js';
import { AccessControl, type Denial } from '../../src/security/access-control.js';
import { parseAuthConfig } from '../../src/security/auth-config.js';
import { AccessPolicy } from '../../src/security/policy.js';
import { Role, type RaftNodeStatus } from '../../../../libs/raft/src/index.js';
import { waitFor } from '../../../../libs/testing/src/wait.js';
import { FakeLockApi, type TestServer, startTestServer } from '../fixtures/fake-api.js';
import { WsClient } from './ws-client.js';

const sha = (t: string) => createHash('sha256').update(t).digest('hex');

const CONFIG = `
users:
  - { name: locker, token_sha256: ${sha('t-locker')}, roles: [worker] }
  - { name: reader, token_sha256: ${sha('t-reader')}, roles: [reader] }
roles:
  worker:
    - { action: lock, prefix: billing/ }
    - { action: read, prefix: billing/ }
  reader:
    - { action: read, prefix: "" }
`;

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

const mutex = (name: string) =>
  ({
    kind: 'lock',
    name,
    holder: { lease_id: 'L', owner: 'o', value: '', token: 1 },
    queue: [],
  }) as unknown as Mutex;

const view = new ClusterView({
  id: 'n1',
  status: () =>
    ({
      id: 'n1',
      role: Role.Leader,
      term: 1,
      leader: 'n1',
      commit: 1,
      applied: 1,
      learners: [],
      membership: { index: 0, members: [{ id: 'n1', address: 'p1' }] },
    }) as unknown as RaftNodeStatus,
  logTail: () => ({ entries: [], commit: 0 }),
  mutexes: () => [mutex('billing/a'), mutex('hr/b')],
  leases: () => [],
  remainingMs: () => 1000,
  peerAddress: () => undefined,
  peerStatus: () => Promise.reject(new Error('unused')),
});

let server: TestServer;
let denials: Denial[];
let clients: WsClient[] = [];

beforeEach(async () => {
  denials = [];
  const access = new AccessControl({ insecure: false, onDenied: (d) => denials.push(d) });
  access.setPolicy(new AccessPolicy(parseAuthConfig(CONFIG)));
  server = await startTestServer(new FakeLockApi(), {
    access,
    view,
    gateway: { viewIntervalMs: 50 },
  });
});

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await server.close();
});

async function call(method: string, params: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.httpBase}/rpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return (await res.json()) as { result?: unknown; error?: Record<string, unknown> };
}

async function open(headers: Record<string, string>): Promise<WsClient> {
  const c = await WsClient.open(`${server.httpBase.replace('http', 'ws')}/ws`, headers);
  clients.push(c);
  return c;
}

describe('POST /rpc', () => {
  it('without credentials: UNAUTHENTICATED, and the LockApi is not called', async () => {
    const a = await call('lock.describe', { name: 'billing/a' });
    expect(a.error).toMatchObject({ code: -32000, data: { code: 'UNAUTHENTICATED' } });
    expect((await call('lock.describe', { name: 'a' }, bearer('t-nobody'))).error).toMatchObject({
      data: { code: 'UNAUTHENTICATED' },
    });
    expect(server.fake.calls).toEqual([]);
    expect(denials.map((d) => d.code)).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED']);
  });

  it('a role that does not grant it: PERMISSION_DENIED naming the action and the name', async () => {
    const a = await call('lock.acquire', { name: 'billing/a', owner: 'r' }, bearer('t-reader'));
    expect(a.error).toMatchObject({ code: -32000, data: { code: 'PERMISSION_DENIED' } });
    expect(a.error!['message']).toContain('lock on "billing/a"');
    expect(server.fake.calls).toEqual([]);
  });

  it('an allowed call runs as the identity the token names', async () => {
    server.fake.script.set('acquire', { acquired: true, lease_id: 'l', fencing_token: 3 });
    const a = await call('lock.acquire', { name: 'billing/a', owner: 'w' }, bearer('t-locker'));
    expect(a.result).toMatchObject({ acquired: true, fencingToken: '3' });
    expect(server.fake.call(0).ctx.principal).toBe('locker');
  });
});

describe('the WebSocket', () => {
  it('authenticates each call by the upgrade request, and filters what a watch delivers', async () => {
    server.fake.streamItems = [
      { name: 'hr/b', type: 0, owner: 'x', fencing_token: 1 },
      { name: 'billing/a', type: 0, owner: 'y', fencing_token: 2 },
    ];
    server.fake.streamEnd = 'hang';
    const anonymous = await open({});
    expect((await anonymous.call('lock.watch', { prefix: '' })).error).toMatchObject({
      data: { code: 'UNAUTHENTICATED' },
    });
    const c = await open(bearer('t-locker'));
    const id = (await c.call('lock.watch', { prefix: '' })).result as string;
    const [n] = await waitFor(
      'an event',
      () => c.notifications(id).length > 0 && c.notifications(id),
    );
    expect(n!.params!.result).toMatchObject({ name: 'billing/a' });
    // The event about hr/b came first and was not delivered.
    expect(c.notifications(id)).toHaveLength(1);
  });

  it('the live view shows only the names its caller may read', async () => {
    const c = await open(bearer('t-locker'));
    const id = (await c.call('cluster.watch')).result as string;
    const [n] = await waitFor(
      'a view',
      () => c.notifications(id).length > 0 && c.notifications(id),
    );
    expect((n!.params!.result as { locks: { name: string }[] }).locks.map((l) => l.name)).toEqual([
      'billing/a',
    ]);
    const everyone = await open(bearer('t-reader'));
    const all = (await everyone.call('cluster.watch')).result as string;
    const [m] = await waitFor(
      'a view',
      () => everyone.notifications(all).length > 0 && everyone.notifications(all),
    );
    expect((m!.params!.result as { locks: unknown[] }).locks).toHaveLength(2);
  });
});
