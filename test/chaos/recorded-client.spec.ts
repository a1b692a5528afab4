// The recorded client dates the releases the SDK sends on its own at their send. A release dated
// at the acquire's start would make a late grant look released from the moment it was asked
// for, which would excuse any early expiry or re-grant of its lock.
import { status } from '@grpc/grpc-js';
import { LockLostError, type QuorumLockClient } from '@quorumlock/client';
import { waitFor } from '../../libs/testing/src/wait.js';
import { Recorder } from './history.js';
import { RecordedClient } from './recorded-client.js';

/**
 * An SDK whose acquire gets a grant too late to act on: it releases the lease, then throws. It
 * sends the release once the clock has moved past the acquire's start, so that a release dated
 * at that start can be told from one dated at its send.
 */
function lateGrantSdk(rec: Recorder, sent: { from: number; to: number }[]) {
  const sdk = {
    release: (_lease: string, _name?: string) => Promise.resolve(true),
    acquire: async () => {
      const asked = rec.ops.find((o) => o.kind === 'acquire')!.invoke;
      await waitFor('the clock to pass the acquire’s start', () => rec.now() > asked);
      const from = performance.now();
      const released = sdk.release('lease-1', '');
      sent.push({ from, to: performance.now() });
      await released;
      throw new LockLostError(
        'x',
        7n,
        'lease-1',
        status.DEADLINE_EXCEEDED,
        'lease lease-1 may have expired before it was granted',
      );
    },
  };
  return sdk as unknown as QuorumLockClient;
}

describe('recorded client: releases the SDK sends on its own', () => {
  test('a late grant the SDK released is recorded as granted, released at the send', async () => {
    const rec = new Recorder();
    const sent: { from: number; to: number }[] = [];
    const rc = new RecordedClient(rec, lateGrantSdk(rec, sent), 'L0');
    expect(await rc.acquire('x', { ttlMs: 1000, waitMs: 0 })).toBeNull();
    const acquire = rec.ops.find((o) => o.kind === 'acquire')!;
    const release = rec.ops.find((o) => o.kind === 'release')!;
    expect(acquire).toMatchObject({ outcome: 'ok', granted: true, token: 7, lease: 'lease-1' });
    expect(sent).toHaveLength(1);
    expect(release.invoke).toBeGreaterThan(acquire.invoke);
    expect(release.invoke).toBeGreaterThanOrEqual(sent[0]!.from);
    expect(release.invoke).toBeLessThanOrEqual(sent[0]!.to);
    expect(release).toMatchObject({ lease: 'lease-1', outcome: 'unknown' });
  });

  test('no release is recorded when the SDK sent none', async () => {
    const rec = new Recorder();
    const sdk = {
      release: () => Promise.resolve(true),
      acquire: () =>
        Promise.reject(new LockLostError('x', 7n, 'lease-2', status.NOT_FOUND, 'gone')),
    } as unknown as QuorumLockClient;
    await new RecordedClient(rec, sdk, 'L1').acquire('x', { ttlMs: 1000, waitMs: 0 });
    expect(rec.ops.map((o) => o.kind)).toEqual(['acquire', 'lost']);
  });
});
