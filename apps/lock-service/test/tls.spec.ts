// The client plane's TLS in one process: the gRPC API and HTTPS around a scripted LockApi, with
// certificates made by openssl at test time; start-up checks of the files; rotation.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { QuorumLockClient, UnavailableError } from '@quorumlock/client';
import { ConfigError, type ConfigFlags } from '../src/config/config.js';
import { TransportSecurity } from '../src/tls/transport-security.js';
import { fingerprint, type CertFiles } from '../../../libs/testing/src/certs.js';
import { waitFor } from '../../../libs/testing/src/wait.js';
import { FakeLockApi, TestClients, startTestServer, type TestServer } from './fixtures/fake-api.js';
import { captureLogger, configWith, makePki, securityWith, type TestPki } from './fixtures/tls.js';
import { servedFingerprint as shownFingerprint } from '../../../test/support/tls.js';

let pki: TestPki;
beforeAll(() => {
  pki = makePki();
});
afterAll(() => pki.remove());

const pem = (file: string) => readFileSync(file);
const creds = (o: { ca?: string; pair?: CertFiles } = {}) =>
  grpc.credentials.createSsl(
    o.ca === undefined ? null : pem(o.ca),
    o.pair ? pem(o.pair.key) : null,
    o.pair ? pem(o.pair.cert) : null,
  );

/** The client plane's settings with the server certificate, verified clients (by default). */
const clientPlane = (flags: ConfigFlags = {}): ConfigFlags => ({
  certFile: pki.server.cert,
  keyFile: pki.server.key,
  trustedCaFile: pki.ca.cert,
  clientCertAuth: true,
  ...flags,
});

/** The fingerprint of the certificate a fresh TLS connection to port is shown. */
const servedFingerprint = (port: number) =>
  shownFingerprint(`127.0.0.1:${port}`, pki.ca.cert, pki.client);

function httpsGet(url: string, o: { pair?: CertFiles } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca: pem(pki.ca.cert),
        ...(o.pair ? { cert: pem(o.pair.cert), key: pem(o.pair.key) } : {}),
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('error', reject);
    req.end();
  });
}

describe('start-up checks of the certificate files', () => {
  it('names the setting and file of each unusable one, on both planes at once', () => {
    const garbage = `${pki.dir}/garbage.pem`;
    writeFileSync(garbage, 'not a certificate\n');
    const attempt = () =>
      securityWith({
        certFile: `${pki.dir}/missing.crt`,
        keyFile: pki.server.key,
        peerCertFile: pki.server.cert,
        peerKeyFile: pki.client.key,
        peerTrustedCaFile: garbage,
      });
    expect(attempt).toThrow(ConfigError);
    let problems: readonly string[] = [];
    try {
      attempt();
    } catch (e) {
      problems = (e as ConfigError).problems;
    }
    expect(problems).toEqual([
      expect.stringMatching(
        /^invalid --cert-file \(QUORUMLOCK_CERT_FILE\): cannot read .*missing\.crt: ENOENT/,
      ),
      `invalid --peer-key-file (QUORUMLOCK_PEER_KEY_FILE): ${pki.client.key} is not the private key of the certificate`,
    ]);
    expect(() =>
      securityWith({
        peerCertFile: pki.server.cert,
        peerKeyFile: pki.server.key,
        peerTrustedCaFile: garbage,
      }),
    ).toThrow(
      `invalid --peer-trusted-ca-file (QUORUMLOCK_PEER_TRUSTED_CA_FILE): ${garbage} holds no PEM certificate`,
    );
    expect(() => securityWith({ certFile: garbage, keyFile: pki.server.key })).toThrow(
      `invalid --cert-file (QUORUMLOCK_CERT_FILE): ${garbage} holds no PEM certificate`,
    );
    expect(() => securityWith({ certFile: pki.server.cert, keyFile: garbage })).toThrow(
      /^invalid --key-file \(QUORUMLOCK_KEY_FILE\): .*garbage\.pem holds no usable PEM private key/,
    );
  });

  it('logs the certificate each plane serves', () => {
    const { logger, logs } = captureLogger();
    new TransportSecurity(configWith(clientPlane()), logger).close();
    expect(logs).toContainEqual(
      expect.objectContaining({
        msg: 'certificates loaded',
        plane: 'client',
        subject: 'CN=server',
        fingerprint: fingerprint(pki.server.cert),
      }),
    );
  });
});

describe('the client plane under TLS', () => {
  let server: TestServer;
  let security: TransportSecurity;
  const open: (() => unknown)[] = [];
  async function start(flags: ConfigFlags) {
    security = securityWith(clientPlane(flags));
    const fake = new FakeLockApi();
    fake.script.set('describe', { held: false });
    server = await startTestServer(fake, { security });
  }
  afterEach(async () => {
    for (const close of open.splice(0)) await close();
    security.close();
    await server.close();
  });
  const describeWith = (credentials: grpc.ChannelCredentials) => {
    const clients = new TestClients(server.address, credentials);
    open.push(() => clients.close());
    return clients.unary(clients.lock, 'Describe', { name: 'a' }, new grpc.Metadata(), 3_000);
  };

  it('--client-cert-auth: a client with a certificate from the trusted CA gets through; plaintext, CA-only and another CA’s certificate do not', async () => {
    await start({});
    await expect(describeWith(creds({ ca: pki.ca.cert, pair: pki.client }))).resolves.toMatchObject(
      {
        held: false,
      },
    );
    for (const refused of [
      grpc.credentials.createInsecure(),
      creds({ ca: pki.ca.cert }),
      creds({ ca: pki.ca.cert, pair: pki.stranger }),
    ]) {
      await expect(describeWith(refused)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    }
    // A client that does not trust the server's CA refuses the server.
    await expect(
      describeWith(creds({ ca: pki.other.cert, pair: pki.client })),
    ).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(server.fake.calls).toHaveLength(1);
  });

  it('without --client-cert-auth, a client needs only the CA', async () => {
    await start({ clientCertAuth: false, trustedCaFile: undefined });
    await expect(describeWith(creds({ ca: pki.ca.cert }))).resolves.toMatchObject({ held: false });
    await expect(describeWith(grpc.credentials.createInsecure())).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it('the SDK connects with a CA alone, or with a CA and a client certificate under --client-cert-auth', async () => {
    const sdk = (o: { cert?: boolean; certAuth?: boolean }) => {
      const q = new QuorumLockClient({
        endpoints: [server.address],
        callTimeoutMs: 2_000,
        tls: {
          ca: pem(pki.ca.cert),
          ...(o.cert ? { cert: pem(pki.client.cert), key: pem(pki.client.key) } : {}),
        },
      });
      open.push(() => q.close());
      return q;
    };
    await start({ clientCertAuth: false, trustedCaFile: undefined });
    await expect(sdk({}).describe('a')).resolves.toMatchObject({ held: false });
    await server.close();
    security.close();
    await start({});
    await expect(sdk({ cert: true }).describe('a')).resolves.toMatchObject({ held: false });
    await expect(sdk({}).describe('a')).rejects.toBeInstanceOf(UnavailableError);
  });

  it('serves HTTPS: probes answer anyone, /metrics only a verified client certificate', async () => {
    await start({});
    expect(server.httpBase).toMatch(/^https:/);
    expect(await httpsGet(`${server.httpBase}/healthz`)).toBe(200);
    expect(await httpsGet(`${server.httpBase}/readyz`)).toBe(200);
    expect(await httpsGet(`${server.httpBase}/metrics`)).toBe(401);
    expect(await httpsGet(`${server.httpBase}/metrics`, { pair: pki.stranger })).toBe(401);
    expect(await httpsGet(`${server.httpBase}/metrics`, { pair: pki.client })).toBe(200);
  });

  it('picks up a rotated certificate for new connections, gRPC and HTTPS, while calls go on', async () => {
    // Its own copy of the files, so that other tests keep the original.
    const files = { cert: `${pki.dir}/rotating.crt`, key: `${pki.dir}/rotating.key` };
    copyFileSync(pki.server.cert, files.cert);
    copyFileSync(pki.server.key, files.key);
    await start({ certFile: files.cert, keyFile: files.key });
    security.watch();
    const mtls = creds({ ca: pki.ca.cert, pair: pki.client });
    const before = fingerprint(files.cert);
    expect(await servedFingerprint(server.app.grpcPort)).toBe(before);

    pki.ca.issue('rotating');
    const after = fingerprint(files.cert);
    expect(after).not.toBe(before);
    await waitFor('the new certificate on a new gRPC connection', async () => {
      return (await servedFingerprint(server.app.grpcPort)) === after;
    });
    await waitFor('the new certificate on a new HTTPS connection', async () => {
      return (await servedFingerprint(server.app.httpPort)) === after;
    });
    await expect(describeWith(mtls)).resolves.toMatchObject({ held: false });
  });

  it('refuses a bad new file, keeps the last good certificate, and says so', async () => {
    const files = { cert: `${pki.dir}/kept.crt`, key: `${pki.dir}/kept.key` };
    copyFileSync(pki.server.cert, files.cert);
    copyFileSync(pki.server.key, files.key);
    const { logger, logs } = captureLogger();
    security = new TransportSecurity(
      configWith(clientPlane({ certFile: files.cert, keyFile: files.key })),
      logger,
    );
    server = await startTestServer(new FakeLockApi(), { security });
    const good = fingerprint(files.cert);

    writeFileSync(files.key, '-----BEGIN PRIVATE KEY-----\ntruncated');
    expect(security.client!.reload('test')).toBe(false);
    const refused = logs.find(
      (l) => l.msg === 'new certificate files refused; the last good ones stay in use',
    );
    expect(refused).toMatchObject({ level: 50, plane: 'client' });
    expect(refused?.problem).toMatch(/^invalid --key-file \(QUORUMLOCK_KEY_FILE\): .*kept\.key/);
    expect(await servedFingerprint(server.app.grpcPort)).toBe(good);

    // A certificate whose key has not been written yet: refused too, until the key follows.
    pki.ca.issue('kept-next');
    copyFileSync(`${pki.dir}/kept-next.crt`, files.cert);
    expect(security.client!.reload('test')).toBe(false);
    copyFileSync(`${pki.dir}/kept-next.key`, files.key);
    expect(security.client!.reload('test')).toBe(true);
    await waitFor('the new certificate', async () => {
      return (await servedFingerprint(server.app.grpcPort)) === fingerprint(files.cert);
    });
  });
});
