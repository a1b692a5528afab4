// The built `quorumlock campaign` against a scripted server: what it reports when it cannot
// resign on SIGTERM.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Code, DomainError } from '../src/domain/errors.js';
import { startTestServer, type TestServer } from './fixtures/fake-api.js';

const BIN = resolve(process.cwd(), 'dist/apps/lock-service/src/cli/quorumlock.js');

describe('quorumlock campaign', () => {
  let server: TestServer;
  beforeEach(async () => {
    server = await startTestServer();
  });
  afterEach(() => server.close());

  test('says so, instead of "resigned", when the resign on SIGTERM fails', async () => {
    server.fake.script.set('campaign', {
      elected: true,
      lease_id: 'L2',
      fencing_token: 99,
      ttl_ms: 60_000,
    });
    server.fake.script.set('renew', { lease_id: 'L2', ttl_ms: 60_000 });
    server.fake.script.set('resign', new DomainError(Code.FAILED_PRECONDITION, 'scripted refusal'));
    server.fake.script.set('release', { released: true });

    const proc = spawn(process.execPath, [BIN, 'campaign', 'e', 'v1', '--ttl', '60s'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', QUORUMLOCK_ENDPOINTS: server.address },
    });
    let stdout = '';
    let stderr = '';
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((done) => proc.on('close', done));
    try {
      const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
      const first = await lines.next();
      expect(first.value).toMatch(/^elected e value="v1"/);
      proc.kill('SIGTERM');
      for await (const line of { [Symbol.asyncIterator]: () => lines }) stdout += `${line}\n`;
      expect(await exited).toBe(0);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
    expect(stdout).not.toContain('resigned');
    expect(stderr).toContain('could not resign e (scripted refusal)');
    expect(server.fake.calls.map((c) => c.method)).toContain('resign');
  });
});
