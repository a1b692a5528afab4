// A 3-node cluster with mutual TLS on both planes, as real processes: locks through any node,
// forwarding over the peer plane, clients and a peer without the right certificate kept out,
// certificates rotated under load without a failed call or a leader change, and the CLI's flags.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { QuorumLockClient, UnavailableError, type TlsOptions } from '@quorumlock/client';
import { peersFlag, serveArgs } from '../../apps/lock-service/src/cli/local-cluster.js';
import { GrpcTransport, type Message } from '../../libs/raft/src/index.js';
import type { MembersResponse } from '../../apps/lock-service/src/domain/api.js';
import { type CertFiles, fingerprint } from '../../libs/testing/src/certs.js';
import { Child } from '../../libs/testing/src/processes.js';
import { waitFor } from '../../libs/testing/src/wait.js';
import { LocalCluster, QUORUMLOCK_BIN } from '../support/cluster.js';
import { fresh, roles } from '../support/e2e.js';
import { ApiClient } from '../support/grpc-clients.js';
import { ClusterPki, servedFingerprint } from '../support/tls.js';

describe('mutual TLS on both planes (3-node cluster)', () => {
  const pki = new ClusterPki();
  const c = new LocalCluster({ flags: pki.flags(), credentials: pki.credentials() });
  const clients: QuorumLockClient[] = [];
  let leader: string;
  let follower: string;

  const client = (endpoints: string[], tls: TlsOptions, callTimeoutMs = 10_000) => {
    const q = new QuorumLockClient({ endpoints, tls, callTimeoutMs, attemptTimeoutMs: 1_000 });
    clients.push(q);
    return q;
  };

  beforeAll(async () => {
    await c.start();
    ({ leader, follower } = await roles(c));
  }, 30_000);
  afterAll(async () => {
    await Promise.all(clients.map((q) => q.close()));
    await c.stop();
    pki.remove();
  });

  test('serves locks and elections through a follower, which forwards to the leader over the peer plane', async () => {
    // Only the follower: every write reaches the leader through it. The follower holds no
    // client-plane certificate, so the leader's API port (which requires one) is not the way.
    const q = client([c.node(follower).client], pki.sdk(pki.alice));
    const name = fresh('tls-lock');
    const lock = await q.acquire(name, { ttlMs: 5_000 });
    expect(await q.describe(name)).toMatchObject({ held: true, fencingToken: lock.fencingToken });
    expect(await lock.release()).toBe(true);
    const leadership = await q.campaign(fresh('tls-election'), 'v1');
    expect(await q.leader(leadership.election)).toMatchObject({ hasLeader: true, value: 'v1' });
    await leadership.resign();
    // Followers announce their client address in forwarded calls: the leader learns it there.
    const members = await waitFor('every member’s client address in the log', async () => {
      const m = await q.members();
      return m.members.every((x) => x.clientAddress !== '') && m;
    });
    expect(members.leaderId).toBe(leader);
    expect(members.members.map((m) => [m.id, m.clientAddress]).sort()).toEqual(
      c.ids.map((id) => [id, c.node(id).client]).sort(),
    );
  });

  test('refuses a plaintext client, a client without a certificate and one from another CA', async () => {
    const endpoints = c.endpoints();
    const plaintext = new QuorumLockClient({ endpoints, callTimeoutMs: 2_000 });
    clients.push(plaintext);
    for (const q of [
      plaintext,
      client(endpoints, pki.sdk(), 2_000),
      client(endpoints, pki.sdk(pki.mallory), 2_000),
    ]) {
      await expect(q.describe('anything')).rejects.toBeInstanceOf(UnavailableError);
    }
  });

  test('believes no forwarding mark a client writes: a forged member address never reaches the log', async () => {
    const call = (address: string, forged: string) => {
      const api = new ApiClient(address, {}, undefined, pki.credentials());
      const md = new grpc.Metadata();
      md.set('x-quorumlock-forwarded', forged);
      md.set('x-quorumlock-principal', 'admin');
      return api
        .call<MembersResponse>(api.cluster, 'ListMembers', {}, 5_000, md)
        .finally(() => api.close());
    };
    // On a follower the call is forwarded like any other (a real forwarded call is not).
    await expect(call(c.node(follower).client, `${follower}=10.6.6.6:1`)).resolves.toMatchObject({
      leader_id: leader,
    });
    await call(c.node(leader).client, `${follower}=10.6.6.6:1`);
    // A write after it: had the leader believed the mark, its member entry would be in the log.
    const q = client([c.node(leader).client], pki.sdk(pki.alice));
    await (await q.acquire(fresh('after-forgery'))).release();
    const members = await q.members();
    expect(members.members.map((m) => m.clientAddress)).not.toContain('10.6.6.6:1');
  });

  test('a peer with a certificate from another CA can neither join nor disturb the cluster', async () => {
    const before = await c.status(leader);
    const victim = c.ids.find((id) => id !== leader)!;
    const others = c.ids.filter((id) => id !== victim);
    await c.kill(victim);
    // The impostor takes the victim's id and addresses and trusts the cluster's peer CA, but
    // holds a peer certificate the members do not trust.
    const args = serveArgs(
      { ...c.node(victim), dataDir: join(c.dir, 'impostor') },
      peersFlag(c.ids.map((id) => c.node(id))),
      pki.flags(pki.rogue),
    );
    const impostor = new Child('impostor', process.execPath, [QUORUMLOCK_BIN, ...args], {
      logFile: join(c.dir, 'impostor.log'),
    });
    // What would depose the leader if it got through: a heartbeat from a far later term.
    const deposing = (t: RaftSender) =>
      others.map((to) =>
        t.send({
          type: 'Heartbeat',
          from: victim,
          to,
          term: before.term + 100,
          leaderCommit: 0,
          ctx: 1,
        }),
      );
    const peers = Object.fromEntries(c.ids.map((p) => [p, c.node(p).peer]));
    const rogue = await raftSender(victim, peers, pki.peerCa.cert, pki.rogue);
    try {
      deposing(rogue);
      await waitFor('the members to refuse the rogue', () =>
        others.every((id) => rogue.unreachable.has(id)),
      );
      // A node that heard the leader's heartbeats would not campaign: this one does, alone.
      const seen = await impostor.waitFor(
        'the impostor to campaign, having heard no leader',
        async () => {
          const s = await c.status(victim, 1_000);
          return s.role === 'follower' ? undefined : s;
        },
      );
      expect(seen).toMatchObject({ leader_id: '', commit_index: 0, term: 0 });
      for (const id of others)
        expect(await c.status(id)).toMatchObject({ leader_id: leader, term: before.term });
      expect((await c.status(leader)).role).toBe('leader');
    } finally {
      await rogue.stop();
      await impostor.stop('SIGKILL');
    }
    c.startNode(victim);
    await waitFor('the member to be back', async () => (await c.agreedLeader()) === leader);

    // The control: the same heartbeat under a member's certificate does depose the leader, so
    // the certificate is all that kept it out.
    const member = await raftSender(victim, peers, pki.peerCa.cert, pki.peer);
    try {
      deposing(member);
      await waitFor(
        'the leader to step down',
        async () => (await c.status(leader)).term > before.term,
      );
    } finally {
      await member.stop();
    }
    ({ leader, follower } = await roles(c));
  });

  test('rotated certificates reach new connections under load, with no failed call and the same leader', async () => {
    const before = await c.status(leader);
    const q = client(c.endpoints(), pki.sdk(pki.alice));
    const name = fresh('rotation');
    const failures: unknown[] = [];
    let cycles = 0;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          await (await q.acquire(name, { ttlMs: 5_000 })).release();
          cycles++;
        } catch (e) {
          failures.push(e);
        }
      }
    })();
    try {
      await waitFor('the loop to run', () => cycles >= 5);
      const old = { server: fingerprint(pki.server.cert), peer: fingerprint(pki.peer.cert) };
      pki.clientCa.issue('server');
      pki.peerCa.issue('peer');
      const now = { server: fingerprint(pki.server.cert), peer: fingerprint(pki.peer.cert) };
      expect(now.server).not.toBe(old.server);
      expect(now.peer).not.toBe(old.peer);
      for (const id of c.ids) {
        const n = c.node(id);
        const shown = (address: string, ca: string, pair: CertFiles) => () =>
          servedFingerprint(address, ca, pair);
        await waitFor(`${id}'s API to show the new certificate`, async () => {
          return (await shown(n.client, pki.clientCa.cert, pki.alice)()) === now.server;
        });
        await waitFor(`${id}'s HTTPS to show it`, async () => {
          return (await shown(n.http, pki.clientCa.cert, pki.alice)()) === now.server;
        });
        await waitFor(`${id}'s peer listener to show its new one`, async () => {
          return (await shown(n.peer, pki.peerCa.cert, pki.peer)()) === now.peer;
        });
      }
      const after = cycles;
      await waitFor('calls after the rotation', () => cycles >= after + 5);
    } finally {
      stop = true;
      await loop;
    }
    expect(failures).toEqual([]);
    // A client connecting afresh, and the members (forwarding, Raft), all on the new certificates.
    const newcomer = client([c.node(follower).client], pki.sdk(pki.alice));
    await (await newcomer.acquire(fresh('after-rotation'))).release();
    expect(await c.status(leader)).toMatchObject({ role: 'leader', term: before.term });
  });

  test('SIGHUP re-reads the certificate files without stopping the node', async () => {
    const pid = c.pid(leader)!;
    process.kill(pid, 'SIGHUP');
    await waitFor('the node to say it re-reads', () =>
      c.logs(leader).includes('signal received: re-reading certificate and auth files'),
    );
    expect(c.isUp(leader)).toBe(true);
    expect(await c.agreedLeader()).toBe(leader);
  });

  test('the CLI takes --cacert, --cert and --key, or QUORUMLOCK_CACERT, _CERT and _KEY', async () => {
    const at = ['--endpoints', c.node(follower).client];
    const files = { ca: pki.clientCa.cert, cert: pki.alice.cert, key: pki.alice.key };
    const name = fresh('cli');
    const mtls = ['--cacert', files.ca, '--cert', files.cert, '--key', files.key];
    const acquired = await cli(['acquire', name, '--ttl', '5s', '--json', ...at, ...mtls]);
    expect(acquired.code).toBe(0);
    const env = {
      QUORUMLOCK_CACERT: files.ca,
      QUORUMLOCK_CERT: files.cert,
      QUORUMLOCK_KEY: files.key,
    };
    const described = await cli(['describe', name, '--json', ...at], env);
    expect(described.code).toBe(0);
    expect(JSON.parse(described.stdout)).toMatchObject({ held: true });
    const noCert = await cli(['describe', name, ...at, '--cacert', files.ca, '--timeout', '2s']);
    expect(noCert.code).toBe(4);
    const half = await cli(['describe', name, ...at, '--cacert', files.ca, '--cert', files.cert]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('--cert needs --key');
    const missing = await cli(['describe', name, ...at, '--cacert', join(c.dir, 'nope.crt')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`--cacert: cannot read ${join(c.dir, 'nope.crt')}`);
  });
});

interface RaftSender {
  send(m: Message): void;
  readonly unreachable: Set<string>;
  stop(): Promise<void>;
}

/**
 * A Raft transport in this process, calling itself `id`, that dials `peers` holding `pair` and
 * trusting `caFile`.
 */
async function raftSender(
  id: string,
  peers: Record<string, string>,
  caFile: string,
  pair: CertFiles,
): Promise<RaftSender> {
  const [ca, key, cert] = [caFile, pair.key, pair.cert].map((f) => readFileSync(f));
  const t = new GrpcTransport({
    id,
    listenAddress: '127.0.0.1:0',
    peers,
    readSnapshot: () => Promise.resolve(null),
    receiveSnapshot: () => Promise.reject(new Error('not a member')),
    channelCredentials: grpc.credentials.createSsl(ca, key, cert),
    logger: { warn: () => undefined },
  });
  const unreachable = new Set<string>();
  t.onUnreachable((p) => unreachable.add(p));
  await t.start();
  return { send: (m) => t.send(m), unreachable, stop: () => t.stop() };
}

function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [QUORUMLOCK_BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
