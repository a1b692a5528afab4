// What a lease promises its holder and what it promises everyone else, on a real cluster:
// nobody keeps a lease alive for its owner, a grant never claims more time than its lease has,
// and a call from a host that died does not wait forever.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { fresh, grpc, methods, type Methods } from '../support/e2e.js';
import { LocalCluster } from '../support/cluster.js';
import { sleep, waitFor } from '../../libs/testing/src/wait.js';

const WAITING_CLIENT = resolve(process.cwd(), 'dist/test/support/waiting-client.js');

describe('lease promises (3-node cluster)', () => {
  // Short keepalive pings, so that a frozen client host is noticed within seconds.
  const cluster = new LocalCluster({
    flags: ['--grpc-keepalive-interval-ms', '500', '--grpc-keepalive-timeout-ms', '1000'],
  });
  let L: Methods;
  beforeAll(async () => {
    await cluster.start();
    L = methods(cluster.api(await cluster.leader()));
  }, 30_000);
  afterAll(() => cluster.stop());

  test('a waiter on its own lease does not keep that lease alive: when it expires the call ends NOT_FOUND and its locks are freed', async () => {
    const [a, b] = [fresh('held'), fresh('mine')];
    const holder = await L.acquire({ name: a, owner: 'holder', ttl_ms: 60_000 });
    const mine = await L.acquire({ name: b, owner: 'me', ttl_ms: 1_000 });
    // The wait could last a minute: an answer within this test's timeout comes from the expiry.
    const waiting = L.acquire(
      { name: a, owner: 'me', lease_id: mine.lease_id, wait_ms: 60_000 },
      70_000,
    );
    await expect(waiting).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    expect(await L.describe(b)).toMatchObject({ held: false });
    expect(await L.describe(a)).toMatchObject({ held: true, owner: 'holder', waiters: 0 });
    await L.release(holder.lease_id);
  }, 20_000);

  test('an Acquire on a lease with little left renews it: the lock is held at least the TTL it answered', async () => {
    const [first, second] = [fresh('first'), fresh('second')];
    const g = await L.acquire({ name: first, owner: 'o', ttl_ms: 3_000 });
    await sleep(2_000); // the lease runs down to a third of its TTL, unrenewed
    const sent = performance.now();
    const r = await L.acquire({ name: second, owner: 'o', lease_id: g.lease_id });
    expect(r).toMatchObject({ acquired: true, lease_id: g.lease_id, ttl_ms: 3_000 });
    // Nobody renews from here on: the lock goes once the TTL it answered has run out, not before.
    const freedAt = await waitFor(
      'the lock to be freed by expiry',
      async () => ((await L.describe(second)).held ? undefined : performance.now()),
      10_000,
    );
    expect(freedAt - sent).toBeGreaterThanOrEqual(r.ttl_ms);
  }, 20_000);

  test('a waiting call from a client host that froze is ended by keepalive pings, and leaves the queue', async () => {
    const name = fresh('frozen');
    const holder = await L.acquire({ name, owner: 'holder', ttl_ms: 60_000 });
    const child = spawn(
      process.execPath,
      [WAITING_CLIENT, L.api.address, JSON.stringify({ name, owner: 'frozen', wait_ms: 600_000 })],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await waitFor(
        'the frozen client to queue',
        async () => (await L.describe(name)).waiters === 1 || undefined,
        15_000,
      );
      child.kill('SIGSTOP');
      await waitFor(
        'the frozen client to leave the queue',
        async () => (await L.describe(name)).waiters === 0 || undefined,
        30_000,
      );
      expect(await L.describe(name)).toMatchObject({ held: true, owner: 'holder' });
    } finally {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    }
    await L.release(holder.lease_id);
  }, 60_000);
});
