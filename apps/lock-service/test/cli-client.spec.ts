// The built quorumlock client commands against a real 3-node cluster: run (mutual exclusion,
// exit codes, loss), the lock and election commands, status, --json, exit codes, usage errors.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { QUORUMLOCK_BIN, LocalCluster } from '../../../test/support/cluster.js';
import { waitFor } from '../../../libs/testing/src/wait.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('quorumlock client commands (3-node cluster)', () => {
  const c = new LocalCluster();
  const dir = mkdtempSync(join(tmpdir(), 'quorumlock-cli-client-'));
  const running = new Set<ChildProcess>();
  let endpoints = '';
  let n = 0;
  const fresh = (what: string) => `${what}-${process.pid}-${++n}`;

  beforeAll(async () => {
    await c.start();
    endpoints = c.endpoints().join(',');
  }, 30_000);
  afterAll(async () => {
    for (const p of running) p.kill('SIGKILL');
    await c.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(args: string[], env: Record<string, string> = {}): ChildProcess {
    const proc = spawn(process.execPath, [QUORUMLOCK_BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', QUORUMLOCK_ENDPOINTS: endpoints, ...env },
    });
    running.add(proc);
    proc.on('exit', () => running.delete(proc));
    return proc;
  }

  function finish(proc: ChildProcess, timeoutMs = 30_000): Promise<Run> {
    return new Promise((done, fail) => {
      let stdout = '';
      let stderr = '';
      proc.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
      proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        fail(new Error(`quorumlock ${proc.spawnargs.slice(2).join(' ')} did not finish`));
      }, timeoutMs);
      proc.on('error', fail);
      proc.on('close', (code) => {
        clearTimeout(timer);
        done({ code, stdout, stderr });
      });
    });
  }

  const run = (args: string[], env?: Record<string, string>) => finish(start(args, env));
  const json = <T = Record<string, unknown>>(r: Run): T => JSON.parse(r.stdout) as T;

  /** The lines a long-running command prints, as they come. */
  function lines(proc: ChildProcess): AsyncIterator<string> {
    return createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  }

  test('concurrent `run --lock` commands never overlap, and each gets a new fencing token', async () => {
    const file = join(dir, 'mutex.log');
    writeFileSync(file, '');
    const script = `echo "$ID start $QUORUMLOCK_FENCING_TOKEN" >> ${file}; sleep 0.3; echo "$ID end $QUORUMLOCK_FENCING_TOKEN" >> ${file}`;
    const lock = fresh('mutex');
    const results = await Promise.all(
      ['a', 'b', 'c'].map((id) =>
        run(['run', '--lock', lock, '--ttl', '2s', '--', 'sh', '-c', script], { ID: id }),
      ),
    );
    for (const r of results) expect(r).toMatchObject({ code: 0 });
    const got = readFileSync(file, 'utf8').trim().split('\n');
    expect(got).toHaveLength(6);
    const tokens: bigint[] = [];
    for (let i = 0; i < got.length; i += 2) {
      const [id, what, token = ''] = got[i]!.split(' ');
      expect(what).toBe('start');
      expect(got[i + 1]).toBe(`${id} end ${token}`);
      tokens.push(BigInt(token));
    }
    expect(new Set(got.map((l) => l.split(' ')[0])).size).toBe(3);
    expect([...tokens].sort((x, y) => (x < y ? -1 : 1))).toEqual(tokens);
  });

  test('`run` exits with the command’s code and exports the lease id; the lock is released', async () => {
    const lock = fresh('code');
    const r = await run([
      'run',
      '--lock',
      lock,
      '--',
      'sh',
      '-c',
      'echo "$QUORUMLOCK_LEASE_ID"; exit 7',
    ]);
    expect(r.code).toBe(7);
    const lease = r.stdout.trim();
    expect(lease).not.toBe('');
    const d = await run(['describe', lock, '--json']);
    expect(d.code).toBe(1);
    expect(json(d)).toMatchObject({ held: false });
    expect((await run(['renew', lease])).code).toBe(3);
  });

  test('`run` stops the command with SIGTERM when the lock is lost', async () => {
    const lock = fresh('lost');
    const leaseFile = join(dir, 'lease');
    // Bounded, so that nothing outlives the test even if quorumlock failed to stop it.
    const script = `trap 'echo got-term; exit 3' TERM; echo "$QUORUMLOCK_LEASE_ID" > ${leaseFile}; i=0; while [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done`;
    const proc = start([
      'run',
      '--lock',
      lock,
      '--ttl',
      '1500ms',
      '--grace',
      '5s',
      '--',
      'sh',
      '-c',
      script,
    ]);
    const result = finish(proc);
    const lease = await waitFor('the lease id', () => {
      try {
        return readFileSync(leaseFile, 'utf8').trim();
      } catch {
        return undefined;
      }
    });
    // Revoking the lease (as an operator would) takes the lock away from under the command.
    const released = await run(['release', lease, '--json']);
    expect(json(released)).toMatchObject({ released: true });
    const r = await result;
    expect(r.stdout).toContain('got-term');
    expect(r.stderr).toMatch(/lock .* lost/);
    expect(r.code).toBe(3);
  });

  test('acquire, describe, renew and release, human-readable and --json, with exit codes', async () => {
    const lock = fresh('cmds');
    const got = await run(['acquire', lock, '--ttl', '20s', '--owner', 'cli-test', '--json']);
    expect(got.code).toBe(0);
    const grant = json<{ acquired: boolean; leaseId: string; fencingToken: number; ttlMs: number }>(
      got,
    );
    expect(grant).toMatchObject({ acquired: true, ttlMs: 20_000 });
    expect(grant.fencingToken).toBeGreaterThan(0);

    const busy = await run(['acquire', lock, '--wait', '300ms']);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain('held by cli-test');
    expect(json(await run(['acquire', lock, '--json']))).toMatchObject({
      acquired: false,
      holder: 'cli-test',
    });

    const described = await run(['describe', lock]);
    expect(described.code).toBe(0);
    expect(described.stdout).toContain(`held by cli-test token=${grant.fencingToken}`);
    expect(json(await run(['describe', lock, '--json']))).toMatchObject({
      held: true,
      owner: 'cli-test',
      fencingToken: grant.fencingToken,
    });

    const renewed = await run(['renew', grant.leaseId, '--json']);
    expect(renewed.code).toBe(0);
    expect(json(renewed)).toMatchObject({ leaseId: grant.leaseId, ttlMs: 20_000 });

    expect((await run(['release', grant.leaseId, 'other-lock'])).code).toBe(1);
    const released = await run(['release', grant.leaseId, lock]);
    expect(released).toMatchObject({ code: 0 });
    expect(released.stdout).toContain(`released ${lock}`);
    expect((await run(['describe', lock])).stdout).toContain('is not held');

    const gone = await run(['renew', '0123456789abcdef']);
    expect(gone.code).toBe(3);
    expect(gone.stderr).toMatch(/expired or released/);
    const goneJson = await run(['renew', '0123456789abcdef', '--json']);
    expect(JSON.parse(goneJson.stderr)).toMatchObject({
      error: { code: 'NOT_FOUND', exitCode: 3 },
    });
  });

  test('`acquire --shared`, `--limit N` and `--lock-delay`; describe lists every holder', async () => {
    const [rw, sem, delayed] = [fresh('rw'), fresh('sem'), fresh('delay')];
    for (const owner of ['r1', 'r2'])
      expect((await run(['acquire', rw, '--shared', '--owner', owner])).code).toBe(0);
    const busy = await run(['acquire', rw, '--owner', 'w']);
    expect(busy).toMatchObject({ code: 1 });
    expect(busy.stderr).toContain('held by r1');
    const d = await run(['describe', rw]);
    expect(d.stdout).toMatch(
      new RegExp(
        `^${rw} held by 2 \\(shared\\) waiters=0\n  r1 shared token=\\d+ remaining=\\S+\n  r2 shared token=`,
      ),
    );
    const holders = json<{ holders: { owner: string; mode: string }[] }>(
      await run(['describe', rw, '--json']),
    ).holders;
    expect(holders.map((h) => [h.owner, h.mode])).toEqual([
      ['r1', 'shared'],
      ['r2', 'shared'],
    ]);

    for (const owner of ['a', 'b'])
      expect((await run(['acquire', sem, '--limit', '2', '--owner', owner])).code).toBe(0);
    expect((await run(['acquire', sem, '--limit', '2'])).code).toBe(1);
    expect((await run(['describe', sem])).stdout).toContain('held by 2 (limit=2)');
    const other = await run(['acquire', sem, '--limit', '3']);
    expect(other.code).toBe(5);
    expect(other.stderr).toMatch(/has limit 2 .*asked for limit 3/);

    // Not renewed: the lease expires after its TTL, and the lock-delay begins.
    expect((await run(['acquire', delayed, '--ttl', '1s', '--lock-delay', '20s'])).code).toBe(0);
    await waitFor('the lock-delay to begin', async () =>
      (await run(['describe', delayed])).stdout.includes('is not held: lock-delay for'),
    );
    expect((await run(['acquire', delayed, '--owner', 'x'])).code).toBe(1);
  });

  test('`run --shared` commands hold the lock together', async () => {
    const lock = fresh('run-shared');
    const flag = join(dir, `${lock}.flag`);
    // The first waits (bounded) for the second to run: only overlapping holds let it finish.
    const first = finish(
      start([
        'run',
        '--shared',
        '--lock',
        lock,
        '--',
        'sh',
        '-c',
        `i=0; while [ ! -e ${flag} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; [ -e ${flag} ]`,
      ]),
    );
    await waitFor('the first holder', async () => (await run(['describe', lock])).code === 0);
    const second = await run([
      'run',
      '--shared',
      '--lock',
      lock,
      '--wait',
      '0',
      '--',
      'touch',
      flag,
    ]);
    expect(second.code).toBe(0);
    expect((await first).code).toBe(0);
  });

  test('campaign leads until SIGTERM and resigns; leader and observe follow it', async () => {
    const election = fresh('elect');
    const observer = start(['observe', election, '--json']);
    const seen = lines(observer);
    expect(JSON.parse((await seen.next()).value as string)).toMatchObject({ hasLeader: false });

    const candidate = start(['campaign', election, 'v1', '--ttl', '2s', '--candidate', 'c1']);
    const campaignOut = lines(candidate);
    expect((await campaignOut.next()).value).toMatch(/^elected .* value="v1"/);
    expect(JSON.parse((await seen.next()).value as string)).toMatchObject({
      hasLeader: true,
      candidate: 'c1',
      value: 'v1',
    });
    const leader = await run(['leader', election]);
    expect(leader.code).toBe(0);
    expect(leader.stdout).toContain('leader=c1 value="v1"');

    const exited = new Promise<number | null>((done) => candidate.on('exit', (code) => done(code)));
    candidate.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(JSON.parse((await seen.next()).value as string)).toMatchObject({ hasLeader: false });
    expect((await run(['leader', election])).code).toBe(1);

    const observerExit = new Promise<number | null>((done) =>
      observer.on('exit', (code) => done(code)),
    );
    observer.kill('SIGINT');
    expect(await observerExit).toBe(0);
  });

  test('status prints a table of every node, and parses as JSON', async () => {
    const table = await run(['status']);
    expect(table.code).toBe(0);
    const [head, ...rows] = table.stdout.trim().split('\n');
    expect(head?.split(/\s+/)).toEqual([
      'ID',
      'ADDRESS',
      'ROLE',
      'TERM',
      'COMMIT',
      'APPLIED',
      'LAG',
      'HEALTHY',
    ]);
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual(['n1', 'n2', 'n3']);

    const parsed = json<
      { id: string; role: string; healthy: boolean; lag: number; term: number }[]
    >(await run(['status', '--json']));
    expect(parsed.map((r) => r.id)).toEqual(['n1', 'n2', 'n3']);
    expect(parsed.filter((r) => r.role === 'leader')).toHaveLength(1);
    for (const r of parsed) expect(r).toMatchObject({ healthy: true });
  });

  test('bad arguments print usage and exit 2; an unreachable cluster exits 4', async () => {
    const cases = [
      ['acquire'],
      ['acquire', 'x', '--ttl', 'banana'],
      ['run', '--lock', 'x'],
      ['run', '--', 'true'],
      ['describe', 'x', '--endpoints', 'not-an-address'],
      ['release'],
      ['campaign', 'e'],
      ['describe', ''],
      ['acquire', 'x', '--limit', 'banana'],
      ['acquire', 'x', '--limit', '10001'],
      ['acquire', 'x', '--lock-delay', '61s'],
      ['acquire', 'x', '--shared', '--limit', '2'],
      ['run', '--lock', 'x', '--shared', '--limit', '3', '--', 'true'],
    ];
    const results = await Promise.all(cases.map((args) => run(args)));
    results.forEach((r, i) => {
      expect({ args: cases[i], code: r.code }).toEqual({ args: cases[i], code: 2 });
      expect(r.stderr).toMatch(/Usage: quorumlock/);
      // A bad flag is named.
      const flag = cases[i]!.find((x) => ['--limit', '--lock-delay'].includes(x));
      if (flag) expect(r.stderr).toContain(flag);
    });
    const down = await run(['describe', 'x', '--endpoints', '127.0.0.1:1', '--timeout', '1s']);
    expect(down.code).toBe(4);
    expect(down.stderr).toContain('cluster unavailable');
  });

  test('transfer-leadership moves the cluster leader', async () => {
    const before = await c.leader();
    const target = c.ids.find((id) => id !== before)!;
    const r = await run(['transfer-leadership', target, '--json']);
    expect(r.code).toBe(0);
    expect(json(r)).toEqual({ leaderId: target });
    await waitFor('the new leader', async () => (await c.agreedLeader()) === target, 10_000);
  });
});
