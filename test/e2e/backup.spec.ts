// Backup, restore and disaster recovery on real clusters, through the CLI as an operator runs
// them (README, "Backup, restore and disaster recovery").
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { QuorumLockClient } from '@quorumlock/client';
import { freePort } from '../../libs/testing/src/ports.js';
import { removeTempDir, tempDir } from '../../libs/testing/src/processes.js';
import { waitFor } from '../../libs/testing/src/wait.js';
import { LocalCluster, QUORUMLOCK_BIN } from '../support/cluster.js';

const exec = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [QUORUMLOCK_BIN, ...args], { timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

const clusterIdOf = (dataDir: string) => readFileSync(join(dataDir, 'cluster-id'), 'utf8').trim();

describe('snapshot save and restore', () => {
  test('a snapshot saved under load restores into a new 3-node cluster with every lock, holder and token; new tokens exceed the old', async () => {
    const old = new LocalCluster();
    const fresh = new LocalCluster({ ids: ['r1', 'r2', 'r3'] });
    let a: QuorumLockClient | undefined;
    let b: QuorumLockClient | undefined;
    try {
      await old.start();
      a = new QuorumLockClient({ endpoints: old.endpoints(), owner: 'worker-a' });
      const held = new Map<string, bigint>();
      for (let i = 0; i < 12; i++) {
        const lock = await a.acquire(`bk/${i}`, { ttlMs: 60_000 });
        held.set(`bk/${i}`, lock.fencingToken);
      }
      const leadership = await a.campaign('bk-election', 'http://a:1');

      // Load while the snapshot is taken: acquire-release pairs on other names.
      let loading = true;
      const load = (async () => {
        let n = 0;
        while (loading) {
          const l = await a.acquire(`load/${n++ % 4}`, { ttlMs: 10_000 });
          await l.release();
        }
        return n;
      })();
      const file = join(old.dir, 'backup.snap');
      // Any endpoint will do: the command finds the leader.
      const leader = await old.leader();
      const follower = old.ids.find((id) => id !== leader)!;
      const saved = await cli([
        'snapshot',
        'save',
        file,
        '--endpoints',
        old.node(follower).client,
        '--json',
      ]);
      loading = false;
      expect(await load).toBeGreaterThan(0);
      expect(saved.stderr).toBe('');
      expect(saved.code).toBe(0);
      const summary = JSON.parse(saved.stdout) as Record<string, number | string>;
      expect(summary['locksHeld']).toBeGreaterThanOrEqual(12);
      expect(summary['electionsLed']).toBe(1);
      expect(summary['clusterId']).toBe(clusterIdOf(old.node('n1').dataDir));

      const status = await cli(['snapshot', 'status', file, '--json']);
      expect(status.code).toBe(0);
      const header = JSON.parse(status.stdout) as Record<string, unknown>;
      expect(header).toMatchObject({
        verified: true,
        index: summary['index'],
        sha256: summary['sha256'],
      });
      const maxToken = BigInt(header['maxFencingToken'] as number);
      for (const token of held.values()) expect(token).toBeLessThanOrEqual(maxToken);

      // A corrupt copy is refused by status and by restore, and restore writes nothing.
      const bad = join(old.dir, 'corrupt.snap');
      copyFileSync(file, bad);
      const bytes = readFileSync(bad);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = bytes[at]! ^ 0x40;
      writeFileSync(bad, bytes);
      const badStatus = await cli(['snapshot', 'status', bad]);
      expect(badStatus.code).toBe(1);
      expect(badStatus.stderr).toMatch(/is corrupt: its SHA-256 is/);
      const nowhere = join(old.dir, 'never');
      const badRestore = await cli([
        'snapshot',
        'restore',
        bad,
        '--data-dir',
        nowhere,
        '--id',
        'x1',
        '--peers',
        'x1=127.0.0.1:1',
      ]);
      expect(badRestore.code).toBe(1);
      expect(badRestore.stderr).toMatch(/is corrupt/);
      expect(existsSync(nowhere)).toBe(false);
      writeFileSync(bad, readFileSync(file).subarray(0, 100));
      expect((await cli(['snapshot', 'status', bad])).stderr).toMatch(
        /truncated or corrupt|is corrupt/,
      );

      // Every member of the new cluster restores the same file.
      await fresh.prepare();
      for (const id of fresh.ids) {
        const r = await cli([
          'snapshot',
          'restore',
          file,
          '--data-dir',
          fresh.node(id).dataDir,
          '--id',
          id,
          '--peers',
          fresh.peers(),
        ]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      }
      const again = await cli([
        'snapshot',
        'restore',
        file,
        '--data-dir',
        fresh.node('r1').dataDir,
        '--id',
        'r1',
        '--peers',
        fresh.peers(),
      ]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/is not empty/);
      await fresh.start();
      const newId = clusterIdOf(fresh.node('r1').dataDir);
      expect(newId).not.toBe(clusterIdOf(old.node('n1').dataDir));
      for (const id of fresh.ids) expect(clusterIdOf(fresh.node(id).dataDir)).toBe(newId);

      b = new QuorumLockClient({ endpoints: fresh.endpoints(), owner: 'worker-b' });
      for (const [name, token] of held) {
        const d = await b.describe(name);
        expect(d).toMatchObject({ held: true, owner: 'worker-a', fencingToken: token });
        // The lease's TTL started again at the restore.
        expect(d.remainingMs).toBeGreaterThan(30_000);
      }
      expect(await b.leader('bk-election')).toMatchObject({ hasLeader: true, value: 'http://a:1' });
      // Held names stay held; a new grant's token exceeds every token in the snapshot.
      expect(await b.tryAcquire('bk/0')).toBeNull();
      const next = await b.acquire('bk/new', { ttlMs: 5_000 });
      expect(next.fencingToken).toBeGreaterThan(maxToken);
      await next.release();
      await leadership.resign();
    } finally {
      await Promise.all([a?.close({ release: false }), b?.close({ release: false })]);
      await Promise.all([old.stop(), fresh.stop()]);
    }
  }, 120_000);
});

describe('a failed save', () => {
  test('leaves no file, whole or partial, under the name or beside it', async () => {
    const dir = tempDir('quorumlock-save-');
    try {
      const file = join(dir, 'never.snap');
      const nobody = `127.0.0.1:${await freePort()}`;
      const r = await cli(['snapshot', 'save', file, '--endpoints', nobody, '--timeout', '1s']);
      expect(r.code).toBe(4);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      removeTempDir(dir);
    }
  }, 30_000);
});

describe('serve --force-new-cluster', () => {
  test('one survivor of five becomes a cluster of one with its state, then grows back to three', async () => {
    const c = new LocalCluster({ ids: ['n1', 'n2', 'n3', 'n4', 'n5'] });
    let q: QuorumLockClient | undefined;
    try {
      await c.start();
      q = new QuorumLockClient({ endpoints: c.endpoints(), owner: 'dr' });
      const lock = await q.acquire('dr/kept', { ttlMs: 60_000 });
      // The leader has every acknowledged write: it is the survivor.
      const survivor = await c.leader();
      const oldId = clusterIdOf(c.node(survivor).dataDir);
      for (const id of c.ids) await c.kill(id);
      for (const id of c.ids.filter((x) => x !== survivor)) c.forget(id);
      await q.close({ release: false });

      // Alone in a configuration of five it could elect nobody: the flag makes it the only member.
      c.startNode(survivor, ['--force-new-cluster']);
      expect(await c.leader(20_000)).toBe(survivor);
      expect(c.logs(survivor)).toMatch(/FORCED A NEW CLUSTER/);
      // A new cluster id: the lost members' data can never mix in.
      expect(clusterIdOf(c.node(survivor).dataDir)).not.toBe(oldId);
      q = new QuorumLockClient({ endpoints: [c.node(survivor).client], owner: 'dr' });
      expect(await q.describe('dr/kept')).toMatchObject({
        held: true,
        fencingToken: lock.fencingToken,
      });
      expect((await q.members()).members.map((m) => m.id)).toEqual([survivor]);

      // Grow back to three as the README's "Growing a cluster" does: a learner, then promoted.
      for (const id of ['n6', 'n7']) {
        const n = await c.join(id, [survivor]);
        await q.addMember({ id, peerAddress: n.peer, clientAddress: n.client, learner: true });
        await waitFor(`${id} promoted`, () =>
          q!.promoteMember(id).then(
            () => true,
            () => false,
          ),
        );
      }
      await waitFor('three members agreeing on a leader', () => c.agreedLeader(), 20_000);
      expect((await q.members()).members.map((m) => m.id).sort()).toEqual(
        [survivor, 'n6', 'n7'].sort(),
      );
      const after = await q.acquire('dr/after', { ttlMs: 5_000 });
      expect(after.fencingToken).toBeGreaterThan(lock.fencingToken);
      await after.release();

      // The flag left in place must not cut the new members off again.
      await c.kill(survivor);
      c.startNode(survivor, ['--force-new-cluster']);
      await waitFor('the survivor to refuse the flag', () => !c.isUp(survivor), 20_000);
      expect(c.logs(survivor)).toMatch(/membership has changed since/);
      c.startNode(survivor);
      await waitFor('three members agreeing on a leader', () => c.agreedLeader(), 20_000);
    } finally {
      await q?.close({ release: false });
      await c.stop();
    }
  }, 120_000);
});

describe('data-dir identity', () => {
  test("a node refuses another node's data dir, and a data dir of a newer format", async () => {
    const c = new LocalCluster({ ids: ['n1'] });
    try {
      await c.start();
      await c.kill('n1', 'SIGTERM');
      const n = c.node('n1');
      const serve = (id: string) =>
        cli([
          'serve',
          '--id',
          id,
          '--client-address',
          n.client,
          '--peer-address',
          n.peer,
          '--http-address',
          n.http,
          '--data-dir',
          n.dataDir,
          '--peers',
          `${id}=${n.peer}`,
        ]);
      const other = await serve('n9');
      expect(other.code).toBe(78);
      expect(other.stderr).toMatch(`data dir ${n.dataDir} belongs to node n1, not n9`);

      const identity = join(n.dataDir, 'identity.json');
      expect(JSON.parse(readFileSync(identity, 'utf8'))).toEqual({ format: 1, node: 'n1' });
      writeFileSync(identity, JSON.stringify({ format: 2, node: 'n1', more: true }));
      const newer = await serve('n1');
      expect(newer.code).toBe(78);
      expect(newer.stderr).toMatch(/written by a newer Quorum Lock \(data format 2/);
    } finally {
      await c.stop();
    }
  }, 60_000);
});
