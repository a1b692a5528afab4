// The transport's credentials and extra services: mutual TLS between peers, a peer without the
// cluster's certificate kept out, and a user's own service on the same listener.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Heartbeat } from '../../src/types.js';
import type { PeerService } from '../../src/transport/index.js';
import { harness, type Harness } from './fixtures.js';
import { type CertFiles, TestCa } from '../../../testing/src/certs.js';
import { removeTempDir, tempDir } from '../../../testing/src/processes.js';
import { waitFor } from '../../../testing/src/wait.js';

const heartbeat = (from: string, to: string, ctx: number): Heartbeat => ({
  type: 'Heartbeat',
  from,
  to,
  term: 1,
  leaderCommit: 0,
  ctx,
});

/** Server and channel credentials of a member holding `files`, verifying peers against `ca`. */
function mtls(ca: string, files: CertFiles) {
  const [caPem, cert, key] = [ca, files.cert, files.key].map((f) => readFileSync(f));
  return {
    serverCredentials: grpc.ServerCredentials.createSsl(
      caPem!,
      [{ cert_chain: cert!, private_key: key! }],
      true,
    ),
    channelCredentials: grpc.credentials.createSsl(caPem, key, cert),
  };
}

const ECHO: PeerService = {
  definition: {
    Echo: {
      path: '/test.Echo/Echo',
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    },
  },
  implementation: {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb(null, Buffer.concat([Buffer.from('echo:'), call.request])),
  },
};

describe('GrpcTransport credentials and services', () => {
  let dir: string;
  let ca: TestCa;
  let members: Record<'a' | 'b', CertFiles>;
  let stranger: CertFiles;
  let h: Harness;

  beforeAll(() => {
    dir = tempDir('raft-tls-');
    ca = TestCa.create(dir, 'ca');
    members = { a: ca.issue('a'), b: ca.issue('b') };
    stranger = TestCa.create(dir, 'other').issue('stranger');
  });
  afterAll(() => removeTempDir(dir));
  beforeEach(() => {
    h = harness();
  });
  afterEach(() => h.stopAll());

  it('exchanges messages under mutual TLS, and keeps out a peer with another CA’s certificate', async () => {
    const a = h.create('a', mtls(ca.cert, members.a));
    const b = h.create('b', mtls(ca.cert, members.b));
    await h.start(a.transport, 'a');
    await h.start(b.transport, 'b');
    a.transport.send(heartbeat('a', 'b', 1));
    b.transport.send(heartbeat('b', 'a', 2));
    await waitFor('both ways', () => a.received.length === 1 && b.received.length === 1);

    // The stranger trusts the cluster's CA, but its own certificate is refused.
    const c = h.create('c', mtls(ca.cert, stranger));
    await h.start(c.transport, 'c');
    c.transport.send(heartbeat('c', 'b', 3));
    await waitFor('the stranger to find b unreachable', () => c.unreachable.includes('b'));
    // And a plaintext peer does not get through either.
    const d = h.create('d');
    await h.start(d.transport, 'd');
    d.transport.send(heartbeat('d', 'b', 4));
    await waitFor('the plaintext peer to find b unreachable', () => d.unreachable.includes('b'));
    a.transport.send(heartbeat('a', 'b', 5));
    await waitFor('a member still', () => b.received.length === 2);
    expect(b.received.map((m) => (m as Heartbeat).ctx)).toEqual([1, 5]);
  });

  it('serves a user’s own service on its listener, under its credentials', async () => {
    const creds = mtls(ca.cert, members.b);
    const b = h.create('b', { ...creds, services: [ECHO] });
    await h.start(b.transport, 'b');
    const call = (credentials: grpc.ChannelCredentials) => {
      const client = new grpc.Client(h.peers['b']!, credentials);
      return new Promise<Buffer>((resolve, reject) =>
        client.makeUnaryRequest(
          '/test.Echo/Echo',
          (x: Buffer) => x,
          (x: Buffer) => x,
          Buffer.from('hi'),
          (err, res) => (err ? reject(err) : resolve(res!)),
        ),
      ).finally(() => client.close());
    };
    expect((await call(mtls(ca.cert, members.a).channelCredentials)).toString()).toBe('echo:hi');
    await expect(call(grpc.credentials.createInsecure())).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });
});
