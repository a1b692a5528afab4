// The follower's forwarder against a scripted leader.
import { Code, DomainError } from '../src/domain/errors.js';
import { GrpcForwarder } from '../src/grpc/grpc-forwarder.js';
import { startTestServer, type TestServer } from './fixtures/fake-api.js';

describe('GrpcForwarder', () => {
  let leader: TestServer;
  let forwarder: GrpcForwarder;
  beforeEach(async () => {
    leader = await startTestServer();
    leader.fake.script.set('describe', { held: false });
    forwarder = new GrpcForwarder({ id: 'n2', clientAddress: '127.0.0.1:1' });
  });
  afterEach(async () => {
    forwarder.close();
    await leader.close();
  });

  it('forwards a call, marked with the forwarding member', async () => {
    const res = await forwarder.call(leader.address, 'LockService', 'Describe', { name: 'a' }, {});
    expect(res).toMatchObject({ held: false });
    expect(leader.fake.calls.map((c) => [c.method, c.ctx.forwardedBy])).toEqual([
      ['describe', { id: 'n2', clientAddress: '127.0.0.1:1' }],
    ]);
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
    expect(leader.fake.calls).toEqual([]);
  });

  it('names a method the service does not have', async () => {
    await expect(
      forwarder.call(leader.address, 'LockService', 'NoSuchMethod', {}, {}),
    ).rejects.toThrow('LockService has no method NoSuchMethod');
    expect(leader.fake.calls).toEqual([]);
  });
});
