// A verified client certificate is an identity: over a real TLS connection to a grpc-js server,
// the gate reads the certificate grpc-js verified (CN, else URI SAN, else DNS SAN). A server
// that does not ask for client certificates has none to read.
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { removeTempDir, tempDir } from '../../../../libs/testing/src/processes.js';
import { AccessGate, type GatedCall } from '../../src/grpc/access-gate.js';
import { AccessControl } from '../../src/security/access-control.js';
import { parseAuthConfig } from '../../src/security/auth-config.js';
import { AccessPolicy } from '../../src/security/policy.js';
import { type Issued, TestCa } from '../fixtures/openssl-certs.js';

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
};
const WHO: grpc.ServiceDefinition = {
  Who: {
    path: '/test.Who/Who',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};
const WhoClient = grpc.makeGenericClientConstructor(WHO, 'Who');

describe('certificate identities over TLS', () => {
  let dir: string;
  const servers: grpc.Server[] = [];
  /** Ports of a server requiring verified client certificates, and of one asking for none. */
  const port = { mtls: 0, tls: 0 };
  let ca: TestCa;
  const clients: grpc.Client[] = [];
  const certs: Record<string, Issued> = {};

  beforeAll(async () => {
    dir = tempDir('cert-identity-');
    ca = TestCa.create(dir, 'ca');
    const other = TestCa.create(dir, 'other-ca');
    const serverCert = ca.issue({
      subject: '/CN=localhost',
      san: 'DNS:localhost,IP:127.0.0.1',
      usage: 'server',
    });
    certs.cn = ca.issue({ subject: '/CN=billing', san: 'DNS:ignored.example', usage: 'client' });
    certs.uri = ca.issue({
      subject: '/O=acme',
      san: 'DNS:first-dns.example,URI:spiffe://acme/reports',
      usage: 'client',
    });
    certs.dns = ca.issue({ subject: '/O=acme', san: 'DNS:worker.example', usage: 'client' });
    certs.stranger = ca.issue({ subject: '/CN=mallory', usage: 'client' });
    certs.otherCa = other.issue({ subject: '/CN=billing', usage: 'client' });

    const access = new AccessControl({ insecure: false });
    const hash = createHash('sha256').update('tok').digest('hex');
    access.setPolicy(
      new AccessPolicy(
        parseAuthConfig(`
users:
  - { name: billing, roles: [r] }
  - { name: spiffe://acme/reports, roles: [r] }
  - { name: worker.example, roles: [r] }
  - { name: tokenholder, token_sha256: ${hash}, roles: [r] }
roles: { r: [{ action: read, prefix: "" }] }
`),
      ),
    );
    const gate = new AccessGate(access);
    const serve = async (requireClientCert: boolean) => {
      const server = new grpc.Server();
      servers.push(server);
      server.addService(WHO, {
        Who: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
          gate
            .unary(call as unknown as GatedCall, 'ClusterService/Status', {}, (ctx) =>
              Promise.resolve({ principal: ctx.principal }),
            )
            .then(
              (r) => cb(null, r),
              (e: { code: number; message: string }) => cb({ code: e.code, details: e.message }),
            );
        },
      });
      const creds = grpc.ServerCredentials.createSsl(
        ca.cert,
        [{ cert_chain: serverCert.cert, private_key: serverCert.key }],
        requireClientCert,
      );
      return new Promise<number>((resolve, reject) =>
        server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))),
      );
    };
    port.mtls = await serve(true);
    port.tls = await serve(false);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of servers) await new Promise<void>((resolve) => s.tryShutdown(() => resolve()));
    removeTempDir(dir);
  });

  function who(o: { cert?: Issued; token?: string; mtls?: boolean } = {}): Promise<unknown> {
    const { cert, token } = o;
    const creds = grpc.credentials.createSsl(ca.cert, cert?.key ?? null, cert?.cert ?? null);
    const client = new WhoClient(`localhost:${o.mtls === false ? port.tls : port.mtls}`, creds);
    clients.push(client);
    const md = new grpc.Metadata();
    if (token) md.set('authorization', `Bearer ${token}`);
    return new Promise((resolve, reject) =>
      client.makeUnaryRequest(
        WHO.Who!.path,
        json.serialize,
        json.deserialize,
        {},
        md,
        { deadline: Date.now() + 10_000 },
        (e, r) => (e ? reject(e) : resolve(r)),
      ),
    );
  }

  test('its Common Name, else its first URI SAN, else its first DNS SAN', async () => {
    await expect(who({ cert: certs.cn })).resolves.toEqual({ principal: 'billing' });
    await expect(who({ cert: certs.uri })).resolves.toEqual({ principal: 'spiffe://acme/reports' });
    await expect(who({ cert: certs.dns })).resolves.toEqual({ principal: 'worker.example' });
  });

  test('a verified certificate naming no user is UNAUTHENTICATED; another CA’s never gets in', async () => {
    await expect(who({ cert: certs.stranger })).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: 'the client certificate names "mallory", who is no user',
    });
    await expect(who({ cert: certs.otherCa })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  test('where no client certificate is asked for, one sent names nobody', async () => {
    await expect(who({ cert: certs.cn, mtls: false })).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: expect.stringContaining('no credentials') as unknown,
    });
    await expect(who({ mtls: false, token: 'tok' })).resolves.toEqual({
      principal: 'tokenholder',
    });
  });

  test('a bearer token beside a certificate decides who the caller is', async () => {
    await expect(who({ cert: certs.cn, token: 'tok' })).resolves.toEqual({
      principal: 'tokenholder',
    });
  });
});
