// The gRPC layer against a scripted LockApi: a real grpc-js client on 127.0.0.1, port 0.
import * as grpc from '@grpc/grpc-js';
import { Code, DomainError } from '../src/domain/errors.js';
import { FORWARDED_HEADER, PRINCIPAL_HEADER } from '../src/grpc/grpc-forwarder.js';
import {
  drain,
  method,
  TestClients,
  type TestServer,
  startTestServer,
} from './fixtures/fake-api.js';
import { unaryCases } from './fixtures/unary-cases.js';
import { waitFor } from '../../../libs/testing/src/wait.js';

let server: TestServer;
let clients: TestClients;

beforeEach(async () => {
  server = await startTestServer();
  clients = new TestClients(server.address);
});

afterEach(async () => {
  clients.close();
  await server.close();
});

describe('unary methods', () => {
  it.each(unaryCases)('$rpc passes request, context and response through', async (c) => {
    server.fake.script.set(c.method, c.res);
    const before = performance.now();
    const res = await clients.unary(clients[c.service], c.rpc, c.req, new grpc.Metadata(), 4_000);
    expect(res).toEqual(c.res);
    expect(server.fake.calls).toHaveLength(1);
    const { method, req, ctx } = server.fake.call(0);
    expect(method).toBe(c.method);
    expect(req).toEqual(c.req);
    // The client's 4 s deadline, on the server's monotonic clock (allowing for transit).
    expect(ctx.deadline).toBeGreaterThan(before + 3_000);
    expect(ctx.deadline).toBeLessThanOrEqual(performance.now() + 4_000);
    expect(ctx.signal).toBeInstanceOf(AbortSignal);
    expect(ctx.signal!.aborted).toBe(false);
    expect(ctx.forwarded).toBe(false);
  });

  it('believes no forwarding mark nor principal a client writes (those are the peer plane’s)', async () => {
    server.fake.script.set('describe', {
      held: false,
      owner: '',
      fencing_token: 0,
      remaining_ms: 0,
      waiters: 0,
    });
    const md = new grpc.Metadata();
    md.set(FORWARDED_HEADER, 'n2=10.6.6.6:7001');
    md.set(PRINCIPAL_HEADER, 'admin');
    await clients.unary(clients.lock, 'Describe', { name: 'x' }, md);
    const { ctx } = server.fake.call(0);
    expect(ctx.forwarded).toBe(false);
    expect(ctx.forwardedBy).toBeUndefined();
    expect(ctx.principal).toBeUndefined();
  });

  it.each([
    Code.INVALID_ARGUMENT,
    Code.DEADLINE_EXCEEDED,
    Code.NOT_FOUND,
    Code.RESOURCE_EXHAUSTED,
    Code.FAILED_PRECONDITION,
    Code.ABORTED,
    Code.UNAVAILABLE,
  ])('a DomainError with code %i comes back as that gRPC status with its message', async (code) => {
    server.fake.script.set('acquire', new DomainError(code, `failure ${code}`));
    await expect(clients.unary(clients.lock, 'Acquire', { name: 'a' })).rejects.toMatchObject({
      code,
      details: `failure ${code}`,
    });
  });

  it('an unknown error is INTERNAL, logged, and the server keeps serving', async () => {
    server.fake.script.set('release', new TypeError('cannot read properties of undefined'));
    await expect(clients.unary(clients.lock, 'Release', { lease_id: 'L' })).rejects.toMatchObject({
      code: grpc.status.INTERNAL,
      details: 'internal error',
    });
    expect(server.logs.join('')).toContain('cannot read properties of undefined');

    server.fake.script.set('release', () => {
      throw new Error('thrown synchronously');
    });
    await expect(clients.unary(clients.lock, 'Release', { lease_id: 'L' })).rejects.toMatchObject({
      code: grpc.status.INTERNAL,
    });

    server.fake.script.set('release', { released: true });
    await expect(clients.unary(clients.lock, 'Release', { lease_id: 'L' })).resolves.toEqual({
      released: true,
    });
  });

  it('aborts the signal when the client cancels', async () => {
    server.fake.script.set('acquire', () => new Promise(() => undefined));
    const call = method(clients.lock, 'Acquire')(
      { name: 'a' },
      () => undefined,
    ) as grpc.ClientUnaryCall;
    await waitFor('the call to arrive', () => server.fake.calls.length === 1);
    call.cancel();
    const { signal } = server.fake.call(0).ctx;
    await waitFor('the abort', () => signal!.aborted);
  });

  it('leaves the deadline unset when the client sets none', async () => {
    server.fake.script.set('leader', {
      has_leader: false,
      candidate: '',
      value: '',
      fencing_token: 0,
    });
    await new Promise<void>((resolve, reject) =>
      method(clients.election, 'Leader')({ election: 'e' }, (err: Error | null) =>
        err ? reject(err) : resolve(),
      ),
    );
    expect(server.fake.call(0).ctx.deadline).toBeUndefined();
  });
});

describe('server streams', () => {
  it('Watch sends the events, then ends with the DomainError code', async () => {
    const events = [
      { name: 'a', type: 0, owner: 'w1', fencing_token: 5, mode: 1 },
      { name: 'a', type: 1, owner: 'w1', fencing_token: 5, mode: 1 },
      { name: 'b', type: 2, owner: 'w2', fencing_token: 2 ** 33, mode: 0 },
    ];
    server.fake.streamItems = events;
    const { items, status } = await drain(
      clients.serverStream(clients.lock, 'Watch', { prefix: 'a' }),
    );
    expect(items).toEqual(events);
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details).toBe('this node lost the cluster leader');
    expect(server.fake.calls[0]).toMatchObject({ method: 'watch', req: { prefix: 'a' } });
  });

  it('Observe sends the leaders, then ends with the DomainError code', async () => {
    const leaders = [
      { has_leader: true, candidate: 'c1', value: 'v', fencing_token: 3 },
      { has_leader: false, candidate: '', value: '', fencing_token: 0 },
    ];
    server.fake.streamItems = leaders;
    const { items, status } = await drain(
      clients.serverStream(clients.election, 'Observe', { election: 'e' }),
    );
    expect(items).toEqual(leaders);
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('an unknown error in a stream ends it with INTERNAL', async () => {
    server.fake.streamItems = [{ name: 'a', type: 0, owner: 'w', fencing_token: 1 }];
    server.fake.streamEnd = new RangeError('bug');
    const { items, status } = await drain(
      clients.serverStream(clients.lock, 'Watch', { prefix: '' }),
    );
    expect(items).toHaveLength(1);
    expect(status.code).toBe(grpc.status.INTERNAL);
  });

  it('a client cancelling a Watch aborts its signal and returns the iterator', async () => {
    server.fake.streamItems = [{ name: 'a', type: 0, owner: 'w', fencing_token: 1 }];
    server.fake.streamEnd = 'hang';
    const stream = clients.serverStream(clients.lock, 'Watch', { prefix: '' });
    stream.on('error', () => undefined);
    await new Promise((resolve) => stream.once('data', resolve));
    stream.cancel();
    await waitFor('the abort', () => server.fake.call(0).ctx.signal!.aborted);
    await waitFor('the iterator to be returned', () => server.fake.streamReturned);
  });
});

describe('KeepAlive', () => {
  it('answers each renewal in order, even when later ones finish first', async () => {
    // Each renewal finishes when the test says so: all five run at once, and finish last first.
    const finish = new Map<string, () => void>();
    server.fake.script.set(
      'renew',
      (req: { lease_id: string }) =>
        new Promise((resolve) =>
          finish.set(req.lease_id, () =>
            resolve({ lease_id: req.lease_id, ttl_ms: 1000 + Number(req.lease_id.slice(1)) }),
          ),
        ),
    );
    const stream = clients.bidi(clients.lock, 'KeepAlive');
    const answers: unknown[] = [];
    stream.on('data', (a) => answers.push(a));
    stream.on('error', () => undefined); // the status says it; a failed test's cut stream too
    const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    for (let i = 0; i < 5; i++) stream.write({ lease_id: `L${i}` });
    stream.end();
    await waitFor('all five renewals to be running', () => finish.size === 5);
    for (const id of ['L4', 'L3', 'L2', 'L1']) finish.get(id)!();
    // Whatever the server does with those four it does before the next I/O turn.
    await new Promise((r) => setImmediate(r));
    finish.get('L0')!();
    expect((await ended).code).toBe(grpc.status.OK);
    expect(answers).toEqual([0, 1, 2, 3, 4].map((i) => ({ lease_id: `L${i}`, ttl_ms: 1000 + i })));
    expect(server.fake.calls.map((c) => (c.req as { lease_id: string }).lease_id)).toEqual([
      'L0',
      'L1',
      'L2',
      'L3',
      'L4',
    ]);
  });

  it('ends the stream with the code of a failed renewal', async () => {
    server.fake.script.set('renew', (req: { lease_id: string }) => {
      if (req.lease_id === 'gone')
        throw new DomainError(Code.NOT_FOUND, 'lease expired or released');
      return { lease_id: req.lease_id, ttl_ms: 500 };
    });
    const stream = clients.bidi(clients.lock, 'KeepAlive');
    const answers: unknown[] = [];
    stream.on('data', (a) => answers.push(a));
    stream.on('error', () => undefined);
    const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    stream.write({ lease_id: 'ok' });
    stream.write({ lease_id: 'gone' });
    const status = await ended;
    expect(answers).toEqual([{ lease_id: 'ok', ttl_ms: 500 }]);
    expect(status).toMatchObject({
      code: grpc.status.NOT_FOUND,
      details: 'lease expired or released',
    });
    stream.end();
  });
});

describe('KeepAlive stream slots', () => {
  it('holds one of the node’s stream slots while the stream is open, and gives it back', async () => {
    server.fake.script.set('renew', (req: { lease_id: string }) => ({
      lease_id: req.lease_id,
      ttl_ms: 500,
    }));
    const stream = clients.bidi(clients.lock, 'KeepAlive');
    const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    const answered = new Promise((resolve) => stream.once('data', resolve));
    stream.write({ lease_id: 'L' });
    await answered;
    expect(server.fake.keepAliveSlots).toBe(1);
    stream.end();
    expect((await ended).code).toBe(grpc.status.OK);
    await waitFor('the slot to be given back', () => server.fake.keepAliveSlots === 0);
  });

  it('gives the slot back when the client cancels', async () => {
    server.fake.script.set('renew', (req: { lease_id: string }) => ({
      lease_id: req.lease_id,
      ttl_ms: 500,
    }));
    const stream = clients.bidi(clients.lock, 'KeepAlive');
    stream.on('error', () => undefined);
    const answered = new Promise((resolve) => stream.once('data', resolve));
    stream.write({ lease_id: 'L' });
    await answered;
    stream.cancel();
    await waitFor('the slot to be given back', () => server.fake.keepAliveSlots === 0);
  });

  it('ends the stream with RESOURCE_EXHAUSTED when no slot is free', async () => {
    server.fake.refuseKeepAlive = true;
    const stream = clients.bidi(clients.lock, 'KeepAlive');
    stream.on('error', () => undefined);
    const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    stream.write({ lease_id: 'L' });
    expect(await ended).toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: 'too many open streams on this node',
    });
    expect(server.fake.calls).toHaveLength(0);
    stream.end();
  });
});

describe('grpc.health.v1.Health', () => {
  const check = (service: string) =>
    clients.unary<{ status: string }>(clients.health, 'Check', { service });

  it('follows isServing() for the server and each service', async () => {
    for (const name of [
      '',
      'quorumlock.v1.LockService',
      'quorumlock.v1.ElectionService',
      'quorumlock.v1.ClusterService',
    ]) {
      expect(await check(name)).toEqual({ status: 'SERVING' });
    }
    server.fake.serving = false;
    expect(await check('')).toEqual({ status: 'NOT_SERVING' });
    expect(await check('quorumlock.v1.LockService')).toEqual({ status: 'NOT_SERVING' });
    server.fake.serving = true;
    expect(await check('')).toEqual({ status: 'SERVING' });
  });

  it('answers NOT_FOUND for an unknown service', async () => {
    await expect(check('no.such.Service')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('Watch reports changes', async () => {
    const stream = clients.serverStream(clients.health, 'Watch', { service: '' });
    stream.on('error', () => undefined);
    const seen: string[] = [];
    stream.on('data', (r: { status: string }) => seen.push(r.status));
    await waitFor('the first status', () => seen.length === 1);
    server.fake.serving = false;
    await waitFor('NOT_SERVING', () => seen.at(-1) === 'NOT_SERVING');
    server.fake.serving = true;
    await waitFor('SERVING again', () => seen.at(-1) === 'SERVING');
    expect(seen).toEqual(['SERVING', 'NOT_SERVING', 'SERVING']);
    stream.cancel();
  });
});

describe('limits and shutdown', () => {
  it('refuses a request above 4 MiB', async () => {
    const name = 'x'.repeat(4 * 1024 * 1024 + 1);
    await expect(clients.unary(clients.lock, 'Describe', { name })).rejects.toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
    });
    expect(server.fake.calls).toHaveLength(0);
  });

  it('close() cuts calls still running after the grace period', async () => {
    server.fake.script.set('acquire', () => new Promise(() => undefined));
    // Nothing but close() can end this call within the test's timeout: the API never answers
    // it, and its deadline is far later.
    const pending = clients.unary(
      clients.lock,
      'Acquire',
      { name: 'a', wait_ms: 120_000 },
      new grpc.Metadata(),
      120_000,
    );
    await waitFor('the call to arrive', () => server.fake.calls.length === 1);
    await server.close();
    // The LockApi is expected to have failed its calls with UNAVAILABLE on stop; what is left
    // is cut as grpc-js does on forceShutdown.
    await expect(pending).rejects.toMatchObject({ code: grpc.status.CANCELLED });
  }, 30_000);
});
