// JSON-RPC 2.0 on POST /rpc, with a scripted LockApi behind the real HTTP server: every method and
// its proto3 JSON mapping, every error code, batches, notifications, and bad bodies.
import { Code, DomainError, invalidArgument } from '../../src/domain/errors.js';
import { type TestServer, startTestServer } from '../fixtures/fake-api.js';

let server: TestServer;

beforeEach(async () => {
  server = await startTestServer(undefined, { gateway: { maxMessageBytes: 64 * 1024 } });
});

afterEach(async () => {
  await server.close();
});

async function post(body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.httpBase}/rpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? (JSON.parse(text) as unknown) : undefined };
}

type Answer = {
  jsonrpc: '2.0';
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: Record<string, unknown> };
};

async function call(method: string, params?: unknown, id: unknown = 1): Promise<Answer> {
  const res = await post(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  expect(res.status).toBe(200);
  return res.json as Answer;
}

describe('methods: each reaches its LockApi call, in the proto3 JSON mapping', () => {
  const cases: [string, string, Record<string, unknown>, Record<string, unknown>, unknown][] = [
    [
      'lock.acquire',
      'acquire',
      {
        name: 'jobs/a',
        owner: 'alice',
        ttlMs: 30000,
        waitMs: 5,
        requestId: 'r1',
        leaseId: '',
        mode: 'LOCK_MODE_SHARED',
        lockDelayMs: 1500,
      },
      {
        acquired: true,
        lease_id: 'l1',
        fencing_token: 9007199254740991,
        ttl_ms: 30000,
        holder: 'alice',
      },
      {
        acquired: true,
        leaseId: 'l1',
        fencingToken: '9007199254740991',
        ttlMs: 30000,
        holder: 'alice',
      },
    ],
    [
      'lock.renew',
      'renew',
      { leaseId: 'l1' },
      { lease_id: 'l1', ttl_ms: 15000 },
      { leaseId: 'l1', ttlMs: 15000 },
    ],
    [
      'lock.release',
      'release',
      { leaseId: 'l1', name: 'jobs/a' },
      { released: true },
      { released: true },
    ],
    [
      'lock.describe',
      'describe',
      { name: 'jobs/a' },
      {
        held: true,
        owner: 'bob',
        fencing_token: 7,
        remaining_ms: 900,
        waiters: 0,
        mode: 1,
        limit: 0,
        holders: [
          { owner: 'bob', fencing_token: 7, remaining_ms: 900, mode: 1 },
          { owner: 'carol', fencing_token: 8, remaining_ms: 1200, mode: 1 },
        ],
      },
      {
        held: true,
        owner: 'bob',
        fencingToken: '7',
        remainingMs: 900,
        waiters: 0,
        mode: 'LOCK_MODE_SHARED',
        limit: 0,
        holders: [
          { owner: 'bob', fencingToken: '7', remainingMs: 900, mode: 'LOCK_MODE_SHARED' },
          { owner: 'carol', fencingToken: '8', remainingMs: 1200, mode: 'LOCK_MODE_SHARED' },
        ],
      },
    ],
    [
      'election.campaign',
      'campaign',
      { election: 'e', candidate: 'c1', value: 'v', ttlMs: 2000 },
      { elected: true, lease_id: 'l2', fencing_token: 12, ttl_ms: 2000 },
      { elected: true, leaseId: 'l2', fencingToken: '12', ttlMs: 2000 },
    ],
    ['election.proclaim', 'proclaim', { election: 'e', leaseId: 'l2', value: 'w' }, {}, {}],
    [
      'election.resign',
      'resign',
      { election: 'e', leaseId: 'l2' },
      { resigned: true },
      { resigned: true },
    ],
    [
      'election.leader',
      'leader',
      { election: 'e' },
      { has_leader: true, candidate: 'c1', value: 'w', fencing_token: 12 },
      { hasLeader: true, candidate: 'c1', value: 'w', fencingToken: '12' },
    ],
    [
      'cluster.status',
      'status',
      {},
      {
        id: 'n1',
        role: 'leader',
        term: 3,
        leader_id: 'n1',
        leader_client_address: '127.0.0.1:7001',
        commit_index: 40,
        applied_index: 40,
        members: [
          {
            id: 'n1',
            peer_address: 'p',
            client_address: 'c',
            match_index: 40,
            is_leader: true,
            learner: false,
          },
        ],
      },
      {
        id: 'n1',
        role: 'leader',
        term: '3',
        leaderId: 'n1',
        leaderClientAddress: '127.0.0.1:7001',
        commitIndex: '40',
        appliedIndex: '40',
        members: [
          {
            id: 'n1',
            peerAddress: 'p',
            clientAddress: 'c',
            matchIndex: '40',
            isLeader: true,
            learner: false,
          },
        ],
      },
    ],
  ];

  test.each(cases)('%s', async (method, apiMethod, params, response, result) => {
    server.fake.script.set(apiMethod, response);
    expect(await call(method, params, 'x-1')).toEqual({ jsonrpc: '2.0', id: 'x-1', result });
    expect(server.fake.call(0).method).toBe(apiMethod);
    // The LockApi gets the request in its own shape: proto names, every field present.
    const req = server.fake.call(0).req as Record<string, unknown>;
    if (method === 'lock.acquire')
      expect(req).toEqual({
        name: 'jobs/a',
        owner: 'alice',
        ttl_ms: 30000,
        wait_ms: 5,
        request_id: 'r1',
        lease_id: '',
        mode: 1,
        limit: 0,
        lock_delay_ms: 1500,
      });
    expect(server.fake.call(0).ctx.forwarded).toBe(false);
  });

  it('accepts the proto field names too, as the mapping requires', async () => {
    server.fake.script.set('renew', { lease_id: 'l1', ttl_ms: 1 });
    await call('lock.renew', { lease_id: 'l1' });
    expect(server.fake.call(0).req).toEqual({ lease_id: 'l1' });
  });
});

describe('errors', () => {
  it('-32700 for a body that is no JSON', async () => {
    const res = await post('{"jsonrpc": "2.0", "method": "lock.acquire", "params"');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
  });

  it.each([
    ['a number', '5'],
    ['no jsonrpc', '{"id":1,"method":"lock.describe"}'],
    ['jsonrpc 1.0', '{"jsonrpc":"1.0","id":1,"method":"lock.describe"}'],
    ['a method that is no string', '{"jsonrpc":"2.0","id":1,"method":1}'],
    ['params that are a string', '{"jsonrpc":"2.0","id":1,"method":"lock.describe","params":"x"}'],
    ['an object id', '{"jsonrpc":"2.0","id":{},"method":"lock.describe"}'],
  ])('-32600 for %s', async (_what, body) => {
    const res = await post(body);
    const id = (JSON.parse(body) as { id?: unknown }).id;
    expect(res.json).toMatchObject({
      id: typeof id === 'number' ? id : null,
      error: { code: -32600 },
    });
    expect(server.fake.calls).toEqual([]);
  });

  it('-32601 for an unknown method, and for a subscription over HTTP', async () => {
    expect((await call('lock.steal', {})).error).toMatchObject({ code: -32601 });
    const watch = await call('lock.watch', { prefix: '' });
    expect(watch.error).toMatchObject({ code: -32601 });
    expect(watch.error!.message).toContain('WebSocket');
  });

  it.each([
    [{ name: 'a', ttlMs: 'soon' }, 'ttlMs'],
    [{ name: 'a', ttlMs: -1 }, 'ttlMs'],
    [{ name: 7 }, 'name'],
    [{ name: 'a', colour: 'red' }, 'colour'],
  ])('-32602 naming the field for params %j', async (params, field) => {
    const a = await call('lock.acquire', params);
    expect(a.error).toMatchObject({ code: -32602, data: { code: 'INVALID_ARGUMENT', field } });
    expect(a.error!.message).toContain(field);
    expect(server.fake.calls).toEqual([]);
  });

  it('-32602 for params by position', async () => {
    expect((await call('lock.describe', ['jobs/a'])).error).toMatchObject({ code: -32602 });
  });

  it("-32602 for the LockApi's INVALID_ARGUMENT, naming the field as the client wrote it", async () => {
    server.fake.script.set('acquire', invalidArgument('ttl_ms', 'must be at most 3600000'));
    const a = await call('lock.acquire', { name: 'a', ttlMs: 4000000 });
    expect(a.error).toEqual({
      code: -32602,
      message: 'Invalid params: ttlMs: must be at most 3600000',
      data: { code: 'INVALID_ARGUMENT', field: 'ttlMs' },
    });
  });

  it.each([
    [Code.NOT_FOUND, 'NOT_FOUND'],
    [Code.UNAVAILABLE, 'UNAVAILABLE'],
    [Code.FAILED_PRECONDITION, 'FAILED_PRECONDITION'],
    [Code.RESOURCE_EXHAUSTED, 'RESOURCE_EXHAUSTED'],
    [Code.DEADLINE_EXCEEDED, 'DEADLINE_EXCEEDED'],
    [Code.PERMISSION_DENIED, 'PERMISSION_DENIED'],
  ])('a server error whose data.code names gRPC status %s', async (code, name) => {
    server.fake.script.set('renew', new DomainError(code, 'as the service says'));
    expect((await call('lock.renew', { leaseId: 'l1' })).error).toEqual({
      code: -32000,
      message: 'as the service says',
      data: { code: name },
    });
  });

  it('-32603 for an unexpected failure, which is logged, not shown', async () => {
    server.fake.script.set('describe', new Error('secret internals'));
    const a = await call('lock.describe', { name: 'a' });
    expect(a.error).toEqual({
      code: -32603,
      message: 'Internal error',
      data: { code: 'INTERNAL' },
    });
    expect(server.logs.join('')).toContain('secret internals');
  });
});

describe('batches and notifications', () => {
  it('answers a batch with an array of the answers to its requests, notifications left out', async () => {
    server.fake.script.set('describe', (r: { name: string }) => ({
      held: r.name === 'a',
      owner: '',
      fencing_token: 0,
      remaining_ms: 0,
      waiters: 0,
      mode: 0,
      limit: 0,
      holders: [],
    }));
    const res = await post(
      JSON.stringify([
        { jsonrpc: '2.0', id: 1, method: 'lock.describe', params: { name: 'a' } },
        { jsonrpc: '2.0', method: 'lock.describe', params: { name: 'n' } },
        { jsonrpc: '2.0', id: 2, method: 'lock.describe', params: { name: 'b' } },
        { jsonrpc: '2.0', id: 3, method: 'nope' },
        1,
      ]),
    );
    const answers = res.json as Answer[];
    expect(answers).toHaveLength(4);
    const byId = new Map(answers.map((a) => [a.id, a]));
    expect(byId.get(1)!.result).toMatchObject({ held: true });
    expect(byId.get(2)!.result).toMatchObject({ held: false });
    expect(byId.get(3)!.error).toMatchObject({ code: -32601 });
    expect(byId.get(null)!.error).toMatchObject({ code: -32600 });
    // The notification ran too.
    expect(server.fake.calls.map((c) => (c.req as { name: string }).name).sort()).toEqual([
      'a',
      'b',
      'n',
    ]);
  });

  it('a batch with one answer is still an array', async () => {
    server.fake.script.set('renew', { lease_id: 'l', ttl_ms: 1 });
    const res = await post(
      JSON.stringify([
        { jsonrpc: '2.0', id: 7, method: 'lock.renew', params: { leaseId: 'l' } },
        { jsonrpc: '2.0', method: 'lock.renew', params: { leaseId: 'l' } },
      ]),
    );
    expect(res.json).toEqual([{ jsonrpc: '2.0', id: 7, result: { leaseId: 'l', ttlMs: 1 } }]);
  });

  it('answers a notification, or a batch of them, with nothing (204)', async () => {
    server.fake.script.set('renew', { lease_id: 'l', ttl_ms: 1 });
    const one = await post(
      JSON.stringify({ jsonrpc: '2.0', method: 'lock.renew', params: { leaseId: 'l' } }),
    );
    expect(one).toMatchObject({ status: 204, text: '' });
    const many = await post(
      JSON.stringify([
        { jsonrpc: '2.0', method: 'lock.renew', params: { leaseId: 'l' } },
        { jsonrpc: '2.0', method: 'nope' },
      ]),
    );
    expect(many).toMatchObject({ status: 204, text: '' });
    expect(server.fake.calls).toHaveLength(2);
  });

  it('an empty batch, and one over the limit, are invalid requests', async () => {
    expect((await post('[]')).json).toMatchObject({ id: null, error: { code: -32600 } });
    const big = Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'x' }));
    const res = await post(JSON.stringify(big));
    expect(res.json).toMatchObject({ id: null, error: { code: -32600 } });
    expect((res.json as Answer).error!.message).toContain('at most 100');
  });
});

describe('bodies', () => {
  it('refuses a body over the limit with 413, and keeps serving', async () => {
    const res = await post(' '.repeat(64 * 1024 + 1));
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ error: { code: -32600 } });
    server.fake.script.set('describe', { held: false });
    expect((await call('lock.describe', { name: 'a' })).result).toMatchObject({ held: false });
  });

  it('refuses a body streamed past the limit without a length', async () => {
    const chunks = new ReadableStream({
      pull(c) {
        c.enqueue(new TextEncoder().encode(' '.repeat(16 * 1024)));
      },
    });
    const res = await fetch(`${server.httpBase}/rpc`, {
      method: 'POST',
      body: chunks,
      duplex: 'half',
    });
    expect(res.status).toBe(413);
  });

  it('only POST: 405 naming it', async () => {
    const res = await fetch(`${server.httpBase}/rpc`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });

  it('refuses a cross-site browser request', async () => {
    const res = await post('{"jsonrpc":"2.0","id":1,"method":"cluster.status"}', {
      origin: 'https://evil.example',
    });
    expect(res.status).toBe(403);
    expect(server.fake.calls).toEqual([]);
  });

  it('serves the live page at /, self-contained', async () => {
    const res = await fetch(`${server.httpBase}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expect(html).toContain('cluster.watch');
    expect(html).not.toMatch(/(src|href)=["']?https?:/);
  });
});
