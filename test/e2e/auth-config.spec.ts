// The --auth-config file over a node's life: a bad one stops `quorumlock serve` at start with a
// clear error; once running, a good change is in force without a restart, a bad one keeps the
// last good config and the log says so, and SIGHUP re-reads it at once.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serveArgs } from '../../apps/lock-service/src/cli/local-cluster.js';
import { freePort } from '../../libs/testing/src/ports.js';
import { removeTempDir, tempDir } from '../../libs/testing/src/processes.js';
import { waitFor } from '../../libs/testing/src/wait.js';
import { authYaml, tokenOf } from '../support/auth.js';
import { LocalCluster, QUORUMLOCK_BIN } from '../support/cluster.js';
import { grpc, methods } from '../support/e2e.js';
import { ApiClient } from '../support/grpc-clients.js';
import { whileUnavailable } from '../support/retry.js';
import { expectCode } from '../support/streams.js';

const run = promisify(execFile);

describe('a bad --auth-config at start', () => {
  const dir = tempDir('auth-config-start-');
  afterAll(() => removeTempDir(dir));

  /** `quorumlock serve` of a one-node cluster with this auth config; how it exits. */
  async function serve(file: string, via: 'flag' | 'env') {
    const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
    const node = {
      id: 'n1',
      client: `127.0.0.1:${client}`,
      peer: `127.0.0.1:${peer}`,
      http: `127.0.0.1:${metrics}`,
      dataDir: join(dir, 'data'),
    };
    const args = serveArgs(node, `n1=${node.peer}`, via === 'flag' ? ['--auth-config', file] : []);
    const env = {
      PATH: process.env.PATH ?? '',
      ...(via === 'env' ? { QUORUMLOCK_AUTH_CONFIG: file } : {}),
    };
    return run(process.execPath, [QUORUMLOCK_BIN, ...args], { env, timeout: 30_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
  }

  test('is refused, naming the setting, the file and where in it the problem is', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'users: [{ name: a, roles: [ops] }]\nroles:\n  ops: [{ action: rule }]\n');
    const r = await serve(file, 'flag');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `invalid --auth-config (QUORUMLOCK_AUTH_CONFIG) ${file}: roles.ops[0].action: must be one of lock, elect, read, admin`,
    );
  });

  test('a file that is not there is refused too, named by the variable as well', async () => {
    const file = join(dir, 'missing.yaml');
    const r = await serve(file, 'env');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `invalid --auth-config (QUORUMLOCK_AUTH_CONFIG) ${file}: cannot read it: ENOENT`,
    );
  });
});

describe('a running node re-reads its --auth-config', () => {
  const dir = tempDir('auth-config-reload-');
  const file = join(dir, 'auth.yaml');
  const c = new LocalCluster({
    ids: ['n1'],
    token: tokenOf('monitor'),
    flags: ['--auth-config', file],
  });
  const grants = (prefix: string) =>
    authYaml({ reader: ['reader'], monitor: [] }, { reader: [{ action: 'read', prefix }] });
  let api: ApiClient;
  const reader = () => methods(api);
  const lines = () =>
    c
      .logs('n1')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  beforeAll(async () => {
    writeFileSync(file, grants('billing/'));
    await c.start();
    api = new ApiClient(c.node('n1').client, {}, tokenOf('reader'));
  }, 30_000);
  afterAll(async () => {
    api.close();
    await c.stop();
    removeTempDir(dir);
  });

  test('a good change is in force without a restart; a bad one keeps the last good one and says so', async () => {
    const pid = c.pid('n1');
    expect(await whileUnavailable(() => reader().describe('billing/a'))).toMatchObject({
      held: false,
    });
    await expectCode(reader().describe('reports/a'), grpc.status.PERMISSION_DENIED);

    writeFileSync(file, grants('reports/'));
    await waitFor('the new grant to be in force', async () => {
      await reader().describe('reports/a');
      return true;
    });
    await expectCode(reader().describe('billing/a'), grpc.status.PERMISSION_DENIED);

    writeFileSync(file, `${grants('payroll/')}  broken: [\n`);
    await waitFor('the bad file to be reported', () =>
      lines().find(
        (l) => l.msg === 'auth config reload failed: the last good auth config stays in force',
      ),
    );
    const failed = lines().find((l) => typeof l.problems === 'object');
    expect(failed).toMatchObject({ level: 50, file, why: 'the file changed' });
    expect(await reader().describe('reports/a')).toMatchObject({ held: false });
    await expectCode(reader().describe('payroll/a'), grpc.status.PERMISSION_DENIED);
    expect(c.pid('n1')).toBe(pid);
  });

  test('SIGHUP re-reads it at once', async () => {
    writeFileSync(file, grants('jobs/'));
    process.kill(c.pid('n1')!, 'SIGHUP');
    await waitFor('a reload on SIGHUP', () =>
      lines().find((l) => l.msg === 'auth config reloaded' && l.why === 'SIGHUP'),
    );
    expect(await reader().describe('jobs/a')).toMatchObject({ held: false });
    expect(c.isUp('n1')).toBe(true);
  });
});
