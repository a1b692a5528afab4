// The gate in the real gRPC layer (Nest, grpc-js), in front of a scripted LockApi: the caller's
// address decides admin calls without an auth config; with one, the caller's identity reaches
// the API as its principal and streams deliver only what it may read.
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { LockEventType } from '../../src/domain/api.js';
import { AccessControl } from '../../src/security/access-control.js';
import { parseAuthConfig } from '../../src/security/auth-config.js';
import { AccessPolicy } from '../../src/security/policy.js';
import { drain, FakeLockApi, method, startTestServer, TestClients } from '../fixtures/fake-api.js';

/** An address of this machine that is not loopback: calls to it come from a non-loopback peer. */
function externalAddress(): string {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  throw new Error('this test needs a non-loopback IPv4 address on this machine');
}

const bearer = (token: string) => {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
};

describe('admin calls without --auth-config', () => {
  test.each([
    [false, 'refused from a non-loopback caller, taken from loopback'],
    [true, 'taken from anywhere with --insecure'],
  ])('insecure=%s: %s', async (insecure) => {
    const fake = new FakeLockApi();
    fake.script.set('transferLeadership', { leader_id: 'n2' });
    const server = await startTestServer(fake, {
      access: new AccessControl({ insecure }),
      clientAddress: '0.0.0.0:0',
    });
    const port = server.app.grpcPort;
    const local = new TestClients(`127.0.0.1:${port}`);
    const external = new TestClients(`${externalAddress()}:${port}`);
    try {
      await expect(local.unary(local.cluster, 'TransferLeadership', {})).resolves.toEqual({
        leader_id: 'n2',
      });
      const remote = external.unary(external.cluster, 'TransferLeadership', {});
      if (insecure) await expect(remote).resolves.toEqual({ leader_id: 'n2' });
      else {
        await expect(remote).rejects.toMatchObject({
          code: grpc.status.PERMISSION_DENIED,
          details: expect.stringContaining(
            `without --auth-config, admin calls are taken from loopback callers only, not ${externalAddress()}`,
          ) as unknown,
        });
        // Only admin calls: the rest is everyone's, as before.
        fake.script.set('describe', { held: false });
        await expect(
          external.unary(external.lock, 'Describe', { name: 'a' }),
        ).resolves.toMatchObject({ held: false });
      }
      expect(fake.calls.map((c) => c.method)).toEqual(
        insecure
          ? ['transferLeadership', 'transferLeadership']
          : ['transferLeadership', 'describe'],
      );
    } finally {
      local.close();
      external.close();
      await server.close();
    }
  });
});

describe('with an auth config', () => {
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let clients: TestClients;
  const fake = new FakeLockApi();

  beforeAll(async () => {
    const access = new AccessControl({ insecure: false });
    access.setPolicy(
      new AccessPolicy(
        parseAuthConfig(`
users: [{ name: billing, token_sha256: ${sha('t-billing')}, roles: [billing] }]
roles:
  billing:
    - { action: lock, prefix: billing/ }
    - { action: read, prefix: billing/ }
`),
      ),
    );
    server = await startTestServer(fake, { access });
    clients = new TestClients(server.address);
  });
  afterAll(async () => {
    clients.close();
    await server.close();
  });

  test('the caller’s identity reaches the API as its principal; refusals never do', async () => {
    fake.calls.length = 0;
    fake.script.set('acquire', { acquired: true, lease_id: 'l1' });
    await clients.unary(clients.lock, 'Acquire', { name: 'billing/x' }, bearer('t-billing'));
    await expect(
      clients.unary(clients.lock, 'Acquire', { name: 'payroll/x' }, bearer('t-billing')),
    ).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    await expect(
      clients.unary(clients.lock, 'Acquire', { name: 'billing/x' }),
    ).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(fake.calls).toHaveLength(1);
    expect(fake.call(0).ctx.principal).toBe('billing');
  });

  test('a Watch on a prefix partly readable delivers the readable names only', async () => {
    const event = (name: string) => ({
      name,
      type: LockEventType.ACQUIRED,
      owner: 'o',
      fencing_token: 1,
    });
    fake.streamItems = [event('billing/a'), event('payroll/b'), event('billing/c')];
    const watch = method(clients.lock, 'Watch');
    const stream = watch({ prefix: '' }, bearer('t-billing')) as grpc.ClientReadableStream<unknown>;
    const { items, status } = await drain(stream);
    expect((items as { name: string }[]).map((i) => i.name)).toEqual(['billing/a', 'billing/c']);
    expect(status.code).toBe(grpc.status.UNAVAILABLE); // the fake's end of stream
  });
});
