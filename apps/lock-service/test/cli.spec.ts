// The built quorumlock command (npm test builds first): usage errors, and one real node's
// start-up and graceful shutdown on SIGTERM.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { EntryType, RocksDbStorage } from '../../../libs/raft/src/index.js';
import { freePort } from '../../../libs/testing/src/ports.js';
import { Child, removeTempDir, tempDir } from '../../../libs/testing/src/processes.js';
import { waitFor } from '../../../libs/testing/src/wait.js';
import { TestClients } from './fixtures/fake-api.js';

const BIN = resolve(process.cwd(), 'dist/apps/lock-service/src/cli/quorumlock.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built command (or `via`, another way to start it) with only PATH and `env`. */
function run(
  args: string[],
  env: Record<string, string> = {},
  via: [string, ...string[]] = [process.execPath, BIN],
): Promise<Run> {
  const [command, ...before] = via;
  return new Promise((done, fail) => {
    const proc = spawn(command, [...before, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    proc.on('error', fail);
    proc.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

describe('the quorumlock bin', () => {
  // The README's walkthrough runs it as `npx quorumlock` from the repository: npx executes the
  // built file itself, which tsc writes without the executable bit.
  it('runs as npx quorumlock after a build', async () => {
    const r = await run(['--help'], { HOME: process.env.HOME ?? '' }, [
      'npx',
      '--no-install',
      'quorumlock',
    ]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^Usage: quorumlock /);
  });
});

describe('quorumlock usage errors exit with 2 and print usage', () => {
  it.each([
    ['no command', []],
    ['an unknown command', ['frobnicate']],
    ['an unknown flag', ['serve', '--bogus']],
    ['a flag without its value', ['serve', '--id']],
    ['a bad dev port', ['dev', '--base-port', '70000']],
  ])('%s', async (_what, args) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/Usage: quorumlock/);
  });

  it('a configuration error names the flag and variable', async () => {
    const r = await run(['serve', '--id', 'n1', '--peers', 'n1'], {
      QUORUMLOCK_DATA_DIR: '/tmp/x',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid --peers (QUORUMLOCK_PEERS): "n1" is not id=host:port');
    expect(r.stderr).toContain('invalid --client-address (QUORUMLOCK_CLIENT_ADDRESS): required');
    expect(r.stderr).toMatch(/Usage: quorumlock serve/);
  });

  it('refuses a plaintext listener off loopback unless --insecure, naming the address and the flags', async () => {
    const flags = [
      ...['serve', '--id', 'n1', '--peers', 'n1=0.0.0.0:7101', '--peer-address', '0.0.0.0:7101'],
      ...['--client-address', '127.0.0.1:7001', '--metrics-address', '127.0.0.1:9101'],
      ...['--data-dir', '/nonexistent'],
    ];
    const r = await run(flags);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'invalid --peer-address (QUORUMLOCK_PEER_ADDRESS): refusing to listen on 0.0.0.0:7101 without TLS',
    );
    expect(r.stderr).toMatch(/--peer-cert-file .*--insecure \(QUORUMLOCK_INSECURE\)/);
    const env = await run(flags.slice(0, -2), {
      QUORUMLOCK_DATA_DIR: '/tmp/x',
      QUORUMLOCK_INSECURE: 'no',
    });
    expect(env.stderr).toContain('refusing to listen on 0.0.0.0:7101 without TLS');
  });

  it('a certificate file that is missing or no PEM stops the start, naming its flag', async () => {
    const dir = tempDir('quorumlock-cli-pem-');
    try {
      const notPem = join(dir, 'n1.crt');
      writeFileSync(notPem, 'hello');
      const peerCa = join(dir, 'missing-ca.crt');
      const r = await run([
        ...['serve', '--id', 'n1', '--peers', 'n1=127.0.0.1:7101'],
        ...['--peer-address', '127.0.0.1:7101', '--client-address', '127.0.0.1:7001'],
        ...['--metrics-address', '127.0.0.1:9101', '--data-dir', join(dir, 'data')],
        ...['--cert-file', notPem, '--key-file', notPem],
        ...['--peer-cert-file', notPem, '--peer-key-file', notPem],
        ...['--peer-trusted-ca-file', peerCa],
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        `invalid --cert-file (QUORUMLOCK_CERT_FILE): ${notPem} holds no PEM certificate`,
      );
      expect(r.stderr).toContain(
        `invalid --peer-trusted-ca-file (QUORUMLOCK_PEER_TRUSTED_CA_FILE): cannot read ${peerCa}`,
      );
    } finally {
      removeTempDir(dir);
    }
  });

  it('--help exits with 0', async () => {
    const r = await run(['serve', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('QUORUMLOCK_PEERS');
  });
});

describe('quorumlock serve', () => {
  let dir: string;
  let dataDir: string;
  let clients: TestClients | undefined;
  let node: Child | undefined;

  beforeEach(() => {
    dir = tempDir('quorumlock-cli-');
    dataDir = join(dir, 'data');
    mkdirSync(dataDir);
  });

  afterEach(async () => {
    clients?.close();
    clients = undefined;
    await node?.stop();
    node = undefined;
    removeTempDir(dir);
  });

  /** One node configured by QUORUMLOCK_* variables alone, as a container runs it. */
  async function serveFromEnv(): Promise<{ node: Child; client: string; metrics: string }> {
    const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
    node = new Child('n1', process.execPath, [BIN, 'serve'], {
      logFile: join(dir, 'n1.log'),
      env: {
        PATH: process.env.PATH ?? '',
        QUORUMLOCK_ID: 'n1',
        QUORUMLOCK_CLIENT_ADDRESS: `127.0.0.1:${client}`,
        QUORUMLOCK_PEER_ADDRESS: `127.0.0.1:${peer}`,
        QUORUMLOCK_PEERS: `n1=127.0.0.1:${peer}`,
        QUORUMLOCK_DATA_DIR: dataDir,
        QUORUMLOCK_METRICS_ADDRESS: `127.0.0.1:${metrics}`,
      },
    });
    return { node, client: `127.0.0.1:${client}`, metrics: `127.0.0.1:${metrics}` };
  }

  it('serves a one-node cluster, then shuts down cleanly on SIGTERM', async () => {
    const { node, client, metrics } = await serveFromEnv();
    await node.waitFor(
      'n1 to be ready',
      async () => (await fetch(`http://${metrics}/readyz`)).status === 200,
      20_000,
    );
    clients = new TestClients(client);
    const c = clients;
    // The gRPC health status follows readiness on its own refresh: wait for it, within a bound.
    await node.waitFor('the gRPC API to report SERVING', async () => {
      const r = await c.unary<{ status: string }>(c.health, 'Check', { service: '' });
      return r.status === 'SERVING';
    });
    const acquired = await clients.unary(clients.lock, 'Acquire', { name: 'cli', owner: 'test' });
    expect(acquired).toMatchObject({ acquired: true, holder: 'test' });
    await expect(
      clients.unary(clients.lock, 'Acquire', { name: '', owner: 'test' }),
    ).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
    });

    await node.stop('SIGTERM');
    expect(node.proc.exitCode).toBe(0);
    const messages = node
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(messages).toEqual(
      expect.arrayContaining(['quorumlock serving', 'shutting down', 'stopped']),
    );
  });

  it('listens off loopback in plaintext with --insecure', async () => {
    const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
    node = new Child('n1', process.execPath, [BIN, 'serve', '--insecure'], {
      logFile: join(dir, 'n1.log'),
      env: {
        PATH: process.env.PATH ?? '',
        QUORUMLOCK_ID: 'n1',
        QUORUMLOCK_CLIENT_ADDRESS: `127.0.0.1:${client}`,
        QUORUMLOCK_CLIENT_LISTEN_ADDRESS: `0.0.0.0:${client}`,
        QUORUMLOCK_PEER_ADDRESS: `0.0.0.0:${peer}`,
        QUORUMLOCK_PEERS: `n1=127.0.0.1:${peer}`,
        QUORUMLOCK_DATA_DIR: dataDir,
        QUORUMLOCK_METRICS_ADDRESS: `127.0.0.1:${metrics}`,
      },
    });
    await node.waitFor(
      'n1 to be ready',
      async () => (await fetch(`http://127.0.0.1:${metrics}/readyz`)).status === 200,
      20_000,
    );
    clients = new TestClients(`127.0.0.1:${client}`);
    const c = clients;
    // The gRPC health status follows readiness on its own refresh: wait for it, within a bound.
    await node.waitFor('the gRPC API to report SERVING', async () => {
      const r = await c.unary<{ status: string }>(c.health, 'Check', { service: '' });
      return r.status === 'SERVING';
    });
  });

  it('refuses to start when its stored commit index is past its stored log', async () => {
    // Entries 4 and 5 were committed, and are gone: serving without them could undo them.
    const raftDir = join(dataDir, 'raft');
    const storage = await RocksDbStorage.open(raftDir, 'n1');
    const data = new Uint8Array(0);
    await storage.save({
      hardState: { term: 1, vote: 'n1', commit: 5 },
      entries: [1, 2, 3].map((index) => ({ index, term: 1, type: EntryType.Normal, data })),
    });
    await storage.close();
    const { node } = await serveFromEnv();
    // A node that did start would serve until stopped (afterEach does): wait a bounded time.
    await waitFor('n1 to exit', () => !node.isUp(), 20_000);
    expect(node.unexpectedExit).toBe('n1 exited with code 1');
    expect(node.output()).toContain(
      `storage corruption on node n1 in ${raftDir} at log index 4: ` +
        'commit index 5 is beyond the last stored index 3',
    );
  });
});
