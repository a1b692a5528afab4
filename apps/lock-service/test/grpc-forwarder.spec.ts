// Forwarding on the peer plane: the follower's forwarder against a scripted leader behind the
// Raft transport's listener, in plaintext and under mutual TLS.
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { Code, DomainError } from '../src/domain/errors.js';
import { GrpcForwarder } from '../src/grpc/grpc-forwarder.js';
import { FakeLockApi } from './fixtures/fake-api.js';
import { makePki, securityWith, startPeerPlane, type TestPki } from './fixtures/tls.js';

type PeerPlane = Awaited<ReturnType<typeof startPeerPlane>>;

describe('GrpcForwarder to the peer plane (plaintext)', () => {
  let fake: FakeLockApi;
  let leader: PeerPlane;
  let forwarder: GrpcForwarder;
  beforeEach(async () => {
    fake = new FakeLockApi();
    fake.script.set('describe', { held: false });
    leader = await startPeerPlane(fake);
    forwarder = new GrpcForwarder({ id: 'n2', clientAddress: '127.0.0.1:1' });
  });
  afterEach(async () => {
    forwarder.close();
    await leader.close();
  });

  it('forwards a call, marked with the forwarding member and the caller’s principal', async () => {
    const res = await forwarder.call(
      leader.address,
      'LockService',
      'Describe',
      { name: 'a' },
      {
        principal: 'CN=Zoë,O=ops team',
      },
    );
    expect(res).toMatchObject({ held: false });
    await forwarder.call(leader.address, 'LockService', 'Describe', { name: 'b' }, {});
    expect(
      fake.calls.map((c) => [c.method, c.ctx.forwarded, c.ctx.forwardedBy, c.ctx.principal]),
    ).toEqual([
      ['describe', true, { id: 'n2', clientAddress: '127.0.0.1:1' }, 'CN=Zoë,O=ops team'],
      ['describe', true, { id: 'n2', clientAddress: '127.0.0.1:1' }, undefined],
    ]);
  });

  it('passes the leader’s own errors through', async () => {
    fake.script.set('renew', new DomainError(Code.NOT_FOUND, 'lease expired'));
    await expect(
      forwarder.call(leader.address, 'LockService', 'Renew', { lease_id: 'x' }, {}),
    ).rejects.toEqual(new DomainError(Code.NOT_FOUND, 'lease expired'));
  });

  it('does not send a call whose caller has already cancelled it', async () => {
    const cancelled = new AbortController();
    cancelled.abort(new Error('client went away'));
    await expect(
      forwarder.call(
        leader.address,
        'LockService',
        'Describe',
        { name: 'a' },
        {
          signal: cancelled.signal,
        },
      ),
    ).rejects.toEqual(new DomainError(Code.UNAVAILABLE, 'forwarded call cancelled'));
    expect(fake.calls).toEqual([]);
  });

  it('names a method the service does not have', async () => {
    await expect(
      forwarder.call(leader.address, 'LockService', 'NoSuchMethod', {}, {}),
    ).rejects.toThrow('LockService has no method NoSuchMethod');
    expect(fake.calls).toEqual([]);
  });

  it('a leader still starting (no API yet) answers UNAVAILABLE, which the client retries', async () => {
    const starting = await startPeerPlane(undefined);
    try {
      await expect(
        forwarder.call(starting.address, 'LockService', 'Describe', { name: 'a' }, {}),
      ).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    } finally {
      await starting.close();
    }
  });
});

describe('GrpcForwarder to the peer plane (mutual TLS)', () => {
  let pki: TestPki;
  const closing: (() => unknown)[] = [];
  beforeAll(() => {
    pki = makePki();
  });
  afterAll(() => pki.remove());
  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
  });

  /** A member's peer-plane settings: the CA's server certificate, verified both ways. */
  const member = (files = pki.server, certAuth = true) =>
    securityWith({
      peerCertFile: files.cert,
      peerKeyFile: files.key,
      peerTrustedCaFile: pki.ca.cert,
      peerClientCertAuth: certAuth,
    });

  async function leaderWith(certAuth: boolean) {
    const fake = new FakeLockApi();
    fake.script.set('describe', { held: true });
    const leader = await startPeerPlane(fake, member(pki.server, certAuth));
    closing.push(leader.close);
    return { fake, leader };
  }

  function forwarderWith(credentials: grpc.ChannelCredentials) {
    const f = new GrpcForwarder({ id: 'n2', clientAddress: '127.0.0.1:1' }, credentials);
    closing.push(() => f.close());
    return f;
  }

  const describeOn = (f: GrpcForwarder, address: string) =>
    f.call(address, 'LockService', 'Describe', { name: 'a' }, { principal: 'alice' });

  it('a member, dialling with its peer certificate, gets through with the principal', async () => {
    const { fake, leader } = await leaderWith(true);
    const f = forwarderWith(member().peerChannel);
    await expect(describeOn(f, leader.address)).resolves.toMatchObject({ held: true });
    expect(fake.call(0).ctx).toMatchObject({ forwarded: true, principal: 'alice' });
  });

  it('a caller with a certificate from another CA is refused at the handshake', async () => {
    const { fake, leader } = await leaderWith(true);
    const stranger = member(pki.stranger, true);
    // The stranger trusts the cluster's CA, so the handshake fails on its certificate alone.
    const f = forwarderWith(stranger.peerChannel);
    await expect(describeOn(f, leader.address)).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    expect(fake.calls).toEqual([]);
  });

  it('without --peer-client-cert-auth, a caller with no certificate reaches TLS but not the API', async () => {
    const { fake, leader } = await leaderWith(false);
    const anonymous = forwarderWith(grpc.credentials.createSsl(readFileSync(pki.ca.cert)));
    await expect(describeOn(anonymous, leader.address)).rejects.toThrow(/UNAUTHENTICATED/);
    expect(fake.calls).toEqual([]);
    expect(leader.logs.map((l) => l.msg)).toContain(
      'forwarded call refused: the caller showed no member certificate',
    );
    const f = forwarderWith(member().peerChannel);
    await expect(describeOn(f, leader.address)).resolves.toMatchObject({ held: true });
  });
});
