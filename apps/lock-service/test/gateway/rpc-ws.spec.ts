// JSON-RPC 2.0 on the WebSocket of GET /ws: calls, subscriptions and their notifications,
// unsubscription, the end of a socket, a slow reader cut off, oversized and malformed messages.
import { encodeCommand } from '../../src/domain/commands.js';
import { ClusterView, type ViewSources } from '../../src/domain/cluster-view.js';
import { Code, DomainError } from '../../src/domain/errors.js';
import type { Lease, Mutex } from '../../src/domain/model.js';
import { EntryType, Role } from '../../../../libs/raft/src/index.js';
import type { RaftNodeStatus } from '../../../../libs/raft/src/index.js';
import { waitFor } from '../../../../libs/testing/src/wait.js';
import { FakeLockApi, type TestServer, startTestServer } from '../fixtures/fake-api.js';
import { WsClient } from './ws-client.js';

const LIMITS = {
  maxMessageBytes: 32 * 1024,
  maxBufferedBytes: 256 * 1024,
  viewIntervalMs: 50,
};

/** A view of a two-node cluster whose n2 does not answer, holding one lock and its lease. */
function fakeView(): ClusterView {
  const status = {
    id: 'n1',
    role: Role.Leader,
    term: 4,
    leader: 'n1',
    commit: 12,
    applied: 12,
    learners: [],
    membership: {
      index: 0,
      members: [
        { id: 'n1', address: 'p1' },
        { id: 'n2', address: 'p2' },
      ],
    },
  } as unknown as RaftNodeStatus;
  const lock = {
    kind: 'lock',
    name: 'jobs/a',
    holder: { lease_id: 'L1', owner: 'alice', value: '', token: 11 },
    queue: [{ lease_id: 'L2', owner: 'bob', value: '', request_id: 'r' }],
  } as unknown as Mutex;
  const lease = { id: 'L1', ttl_ms: 15000, holds: 'jobs/a', waits: null } as unknown as Lease;
  const sources: ViewSources = {
    id: 'n1',
    status: () => status,
    logTail: () => ({
      entries: [
        { index: 11, term: 4, type: EntryType.Noop, data: new Uint8Array() },
        { index: 12, term: 4, type: EntryType.Normal, data: encodeCommand({ op: 'tick', t: 5 }) },
        { index: 13, term: 4, type: EntryType.Config, data: new Uint8Array() },
      ],
      commit: 12,
    }),
    mutexes: () => [lock],
    leases: () => [lease],
    remainingMs: () => 9000,
    peerAddress: (id) => (id === 'n2' ? 'p2' : undefined),
    peerStatus: () => Promise.reject(new Error('connection refused')),
  };
  return new ClusterView(sources);
}

let server: TestServer;
let clients: WsClient[] = [];

beforeEach(async () => {
  server = await startTestServer(new FakeLockApi(), { gateway: LIMITS, view: fakeView() });
});

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await server.close();
});

async function open(headers: Record<string, string> = {}): Promise<WsClient> {
  const c = await WsClient.open(`${server.httpBase.replace('http', 'ws')}/ws`, headers);
  clients.push(c);
  return c;
}

const event = (name: string, owner = 'o') => ({ name, type: 0, owner, fencing_token: 7 });

describe('calls on the socket', () => {
  it('answers calls, batches and bad messages, and the socket stays open', async () => {
    server.fake.script.set('renew', { lease_id: 'l1', ttl_ms: 15000 });
    const c = await open();
    expect(await c.call('lock.renew', { leaseId: 'l1' })).toMatchObject({
      result: { leaseId: 'l1', ttlMs: 15000 },
    });
    c.send('{not json');
    await waitFor('the parse error', () => c.messages.find((m) => m.error?.code === -32700));
    c.send(
      JSON.stringify([
        { jsonrpc: '2.0', id: 'b', method: 'lock.renew', params: { leaseId: 'l1' } },
      ]),
    );
    await waitFor('the batch', () => c.messages.find((m) => Array.isArray(m)));
    expect(await c.call('lock.renew', { leaseId: 'l1' })).toMatchObject({
      result: { ttlMs: 15000 },
    });
    expect(c.closed).toBeUndefined();
  });

  it('closes the socket with 1009 for a message over the limit; the server keeps serving', async () => {
    const c = await open();
    c.send(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'lock.describe',
        params: { name: 'x'.repeat(40_000) },
      }),
    );
    expect((await c.waitClosed()).code).toBe(1009);
    expect(server.fake.calls).toEqual([]);
    const d = await open();
    server.fake.script.set('describe', { held: false });
    expect((await d.call('lock.describe', { name: 'a' })).result).toMatchObject({ held: false });
  });

  it('closing the socket aborts the calls in flight on it', async () => {
    server.fake.script.set('acquire', () => new Promise(() => undefined));
    const c = await open();
    c.send(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'lock.acquire',
        params: { name: 'a', waitMs: 60000 },
      }),
    );
    const call = await waitFor('the acquire to arrive', () => server.fake.calls[0]);
    expect(call.ctx.signal!.aborted).toBe(false);
    await c.close();
    await waitFor('the call to be aborted', () => call.ctx.signal!.aborted);
  });
});

describe('subscriptions', () => {
  it('lock.watch: a subscription id, then lock.event notifications; unsubscribe ends it', async () => {
    server.fake.streamItems = [event('jobs/a', 'alice'), event('jobs/b', 'bob')];
    server.fake.streamEnd = 'hang';
    const c = await open();
    const sub = await c.call('lock.watch', { prefix: 'jobs/' });
    const id = sub.result as string;
    expect(typeof id).toBe('string');
    expect(server.fake.call(0).req).toEqual({ prefix: 'jobs/' });
    const got = await waitFor('two events', () => {
      const n = c.notifications(id);
      return n.length === 2 && n;
    });
    expect(got[0]).toEqual({
      jsonrpc: '2.0',
      method: 'lock.event',
      params: {
        subscription: id,
        result: {
          name: 'jobs/a',
          type: 'ACQUIRED',
          owner: 'alice',
          fencingToken: '7',
          mode: 'LOCK_MODE_EXCLUSIVE',
        },
      },
    });
    expect(await c.call('unsubscribe', { id })).toMatchObject({ result: true });
    expect(server.fake.streamReturned).toBe(true);
    expect(await c.call('unsubscribe', { id })).toMatchObject({ result: false });
    expect((await c.call('unsubscribe', {})).error).toMatchObject({
      code: -32602,
      data: { field: 'id' },
    });
  });

  it('election.observe: election.leader notifications', async () => {
    server.fake.streamItems = [{ has_leader: true, candidate: 'c1', value: 'v', fencing_token: 3 }];
    server.fake.streamEnd = 'hang';
    const c = await open();
    const id = (await c.call('election.observe', { election: 'e1' })).result as string;
    const [n] = await waitFor(
      'the leader',
      () => c.notifications(id).length > 0 && c.notifications(id),
    );
    expect(n).toMatchObject({
      method: 'election.leader',
      params: { result: { hasLeader: true, candidate: 'c1', value: 'v', fencingToken: '3' } },
    });
  });

  it("a stream's failure is its last notification, carrying the error", async () => {
    server.fake.streamItems = [];
    server.fake.streamEnd = new DomainError(Code.UNAVAILABLE, 'this node lost the cluster leader');
    const c = await open();
    const id = (await c.call('lock.watch', { prefix: '' })).result as string;
    const [n] = await waitFor(
      'the end',
      () => c.notifications(id).length > 0 && c.notifications(id),
    );
    expect(n!.params!.error).toEqual({
      code: -32000,
      message: 'this node lost the cluster leader',
      data: { code: 'UNAVAILABLE' },
    });
    expect(await c.call('unsubscribe', { id })).toMatchObject({ result: false });
  });

  it('a refused subscription is answered with the error, and opens nothing', async () => {
    server.fake.watch = () => {
      throw new DomainError(Code.RESOURCE_EXHAUSTED, 'too many open streams on this node');
    };
    const c = await open();
    expect((await c.call('lock.watch', { prefix: '' })).error).toMatchObject({
      code: -32000,
      data: { code: 'RESOURCE_EXHAUSTED' },
    });
  });

  it('closing the socket ends its subscriptions', async () => {
    server.fake.streamItems = [];
    server.fake.streamEnd = 'hang';
    const c = await open();
    await c.call('lock.watch', { prefix: '' });
    expect(server.fake.streamReturned).toBe(false);
    await c.close();
    await waitFor('the stream to be returned', () => server.fake.streamReturned);
  });

  it('cuts off a reader that does not read, with 1013 and a reason', async () => {
    const big = 'x'.repeat(2048);
    server.fake.streamItems = Array.from({ length: 20_000 }, (_, i) => event(`n/${i}`, big));
    server.fake.streamEnd = 'hang';
    const c = await open();
    const id = (await c.call('lock.watch', { prefix: '' })).result as string;
    c.tcp.pause();
    // Unread data piles up on the server until it gives up on this reader.
    await waitFor('the stream to be dropped', () => server.fake.streamReturned);
    c.tcp.resume();
    const closed = await c.waitClosed();
    expect(closed.code).toBe(1013);
    expect(closed.reason).toMatch(/^slow reader/);
    // It got a prefix of the stream, not all of it.
    expect(c.notifications(id).length).toBeLessThan(20_000);
    const d = await open();
    expect((await d.call('cluster.status', {})).error).toBeUndefined();
  });
});

describe('cluster.watch (the live view)', () => {
  it('sends snapshots of the cluster until unsubscribed', async () => {
    const c = await open();
    const id = (await c.call('cluster.watch')).result as string;
    const [first] = await waitFor(
      'two snapshots',
      () => c.notifications(id).length >= 2 && c.notifications(id),
    );
    expect(first).toMatchObject({ method: 'cluster.view' });
    expect(first!.params!.result).toEqual({
      node: 'n1',
      leader: 'n1',
      term: 4,
      nodes: [
        expect.objectContaining({ id: 'n1', role: 'leader', commitIndex: 12, healthy: true }),
        expect.objectContaining({ id: 'n2', healthy: false, error: 'connection refused' }),
      ],
      log: [
        { index: 11, term: 4, kind: 'noop', committed: true },
        { index: 12, term: 4, kind: 'tick', committed: true },
        { index: 13, term: 4, kind: 'config', committed: false },
      ],
      locks: [
        {
          name: 'jobs/a',
          holder: 'alice',
          leaseId: 'L1',
          fencingToken: 11,
          remainingMs: 9000,
          waiters: ['bob'],
        },
      ],
      elections: [],
      leases: [{ id: 'L1', ttlMs: 15000, remainingMs: 9000, holds: 1, waits: 0 }],
      truncated: { locks: false, elections: false, leases: false },
    });
    expect(await c.call('unsubscribe', { id })).toMatchObject({ result: true });
    const count = c.notifications(id).length;
    // Three snapshots of another subscription take over two intervals: the first would have had
    // another by then.
    const other = (await c.call('cluster.watch')).result as string;
    await waitFor('three snapshots', () => c.notifications(other).length >= 3);
    expect(c.notifications(id).length).toBe(count);
  });
});

describe('the upgrade', () => {
  it('refuses other paths and cross-site pages', async () => {
    const base = server.httpBase.replace('http', 'ws');
    await expect(WsClient.open(`${base}/nope`)).rejects.toThrow('HTTP 404');
    await expect(WsClient.open(`${base}/ws`, { origin: 'https://evil.example' })).rejects.toThrow(
      'HTTP 403',
    );
  });
});
