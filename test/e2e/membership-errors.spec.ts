// Every refusal of a membership change, on real node processes, and a stray node refused by a
// cluster it does not belong to.
import { join } from 'node:path';
import { QuorumLockClient, QuorumLockError } from '@quorumlock/client';
import { serveArgs } from '../../apps/lock-service/src/cli/local-cluster.js';
import { LocalCluster, QUORUMLOCK_BIN } from '../support/cluster.js';
import { freePort } from '../../libs/testing/src/ports.js';
import { Child } from '../../libs/testing/src/processes.js';
import { waitFor } from '../../libs/testing/src/wait.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof QuorumLockError) return e.codeName;
    throw e;
  }
  throw new Error('the call succeeded');
}

describe('membership change errors (one-node cluster)', () => {
  // Long election timeouts: a leader that lost its quorum (a new voter down) steps down only
  // after one, which leaves time to see its change in progress.
  const c = new LocalCluster({
    ids: ['n1'],
    flags: ['--election-timeout-min-ms', '3000', '--election-timeout-max-ms', '4000'],
  });
  let admin: QuorumLockClient;
  beforeAll(async () => {
    await c.start();
    admin = new QuorumLockClient({ endpoints: [c.node('n1').client], callTimeoutMs: 10_000 });
  }, 30_000);
  afterAll(async () => {
    await admin.close();
    await c.stop();
  });

  test('malformed requests are INVALID_ARGUMENT, naming the field', async () => {
    const add = (m: object) =>
      admin.addMember({ id: 'n2', peerAddress: 'h:1', clientAddress: 'h:2', ...m });
    await expect(add({ id: 'bad id' })).rejects.toThrow(/^id: must be/);
    await expect(add({ peerAddress: 'nowhere' })).rejects.toThrow(/peer_address: "nowhere"/);
    await expect(add({ clientAddress: 'h:0' })).rejects.toThrow(/client_address: port 0/);
    expect(await codeOf(add({ id: '' }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(admin.promoteMember(''))).toBe('INVALID_ARGUMENT');
  });

  test('a duplicate id or address is ALREADY_EXISTS; an unknown id NOT_FOUND', async () => {
    const n1 = c.node('n1');
    const add = (m: object) =>
      admin.addMember({ id: 'n2', peerAddress: 'h:1', clientAddress: 'h:2', ...m });
    expect(await codeOf(add({ id: 'n1' }))).toBe('ALREADY_EXISTS');
    expect(await codeOf(add({ peerAddress: n1.peer }))).toBe('ALREADY_EXISTS');
    expect(await codeOf(add({ clientAddress: n1.client }))).toBe('ALREADY_EXISTS');
    expect(await codeOf(admin.promoteMember('n9'))).toBe('NOT_FOUND');
    expect(await codeOf(admin.removeMember('n9'))).toBe('NOT_FOUND');
  });

  test('removing the last voter, or promoting a voter, is FAILED_PRECONDITION', async () => {
    expect(await codeOf(admin.removeMember('n1'))).toBe('FAILED_PRECONDITION');
    expect(await codeOf(admin.promoteMember('n1'))).toBe('FAILED_PRECONDITION');
  });

  test('a change while another is in progress, or promoting a learner not caught up, is FAILED_PRECONDITION', async () => {
    // n2 is down: with two voters the change needs it to commit.
    const node = await c.join('n2');
    await c.kill('n2');
    const n2 = { id: 'n2', peerAddress: node.peer, clientAddress: node.client };
    const n3 = { id: 'n3', peerAddress: '127.0.0.1:1', clientAddress: '127.0.0.1:2' };
    const first = codeOf(admin.addMember(n2, { timeoutMs: 1_000 }));
    await waitFor('n2 in the configuration in force', async () =>
      (await c.status('n1')).members.some((m) => m.id === 'n2'),
    );
    await expect(admin.addMember(n3)).rejects.toThrow(/not committed yet/);
    expect(await codeOf(admin.addMember(n3))).toBe('FAILED_PRECONDITION');
    expect(await first).toMatch(/^(DEADLINE_EXCEEDED|UNAVAILABLE)$/);
    // n2 starts and joins: the change commits, and the cluster serves again.
    c.startNode('n2');
    // The configuration in force may not be committed yet: wait for the commit index to pass it.
    await waitFor('n2 to be a voter, committed', async () => {
      const m = await admin.members({ timeoutMs: 1_000 });
      const committed = Number((await c.status('n1')).commit_index) >= Number(m.configIndex);
      return m.configIndex > 0n && m.members.length === 2 && committed;
    });
    // A learner that never answered is not caught up.
    await admin.addMember({ ...n3, learner: true });
    await expect(admin.promoteMember('n3')).rejects.toThrow(/not caught up/);
    expect(await codeOf(admin.promoteMember('n3'))).toBe('FAILED_PRECONDITION');
  }, 60_000);
});

describe('a node of another cluster', () => {
  test('is refused by the cluster and exits: its data dir belongs elsewhere', async () => {
    const c = new LocalCluster();
    try {
      await c.start();
      const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
      const stray = {
        id: 'n7',
        client: `127.0.0.1:${client}`,
        peer: `127.0.0.1:${peer}`,
        http: `127.0.0.1:${metrics}`,
        dataDir: join(c.dir, 'n7'),
      };
      // Started without --join, naming itself and n1: a cluster of its own, pointed at n1.
      const peers = `n7=${stray.peer},n1=${c.node('n1').peer}`;
      const proc = new Child('n7', process.execPath, [QUORUMLOCK_BIN, ...serveArgs(stray, peers)], {
        logFile: join(c.dir, 'n7.log'),
      });
      try {
        await proc.exited;
        expect(proc.unexpectedExit).toMatch(/exited with code 78/);
        expect(proc.output()).toMatch(/belongs to another cluster/);
      } finally {
        await proc.stop('SIGKILL');
      }
      expect(c.logs('n1')).toMatch(/refusing a peer of another cluster/);
      expect(await c.leader()).toBeDefined();
    } finally {
      await c.stop();
    }
  }, 60_000);
});
