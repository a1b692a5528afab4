// @quorumlock/client as users get it: `npm pack`ed, installed from the tarball into projects
// outside the repository, and run against a live local cluster: an ES module TypeScript service,
// a CommonJS one, NestJS 11 (CommonJS) and NestJS 12 (ES modules) apps with @Singleton, and the
// fenced-write example against a real PostgreSQL server.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Postgres } from '../../libs/testing/src/postgres.js';
import { Child, removeTempDir, tempDir } from '../../libs/testing/src/processes.js';
import { waitFor } from '../../libs/testing/src/wait.js';
import { LocalCluster } from '../support/cluster.js';
import { readLines, segments } from '../support/ticks.js';
import { makeProject, packClient, REPO, run, tsc } from './projects.js';

/** A process's state letter from /proc ('T' when stopped). */
function processState(pid: number | undefined): string | undefined {
  if (pid === undefined) return undefined;
  return /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
}

const fixture = (f: string) => join(REPO, 'test/packages/fixtures', f);
const example = (name: string) => join(REPO, 'examples', name, 'src/main.ts');
/** What the READMEs' examples call that is the user's own code. */
const USER_CODE = [
  'declare function writeReport(o: { fencingToken: bigint; signal: AbortSignal }): Promise<void>;',
  'declare function chargeDueInvoices(o: { fencingToken: bigint; signal: AbortSignal }): Promise<void>;',
].join('\n');

/** The ```ts blocks of a markdown file. */
function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

const TYPES_NODE = { '@types/node': '20.19.43' };
const NEST = {
  11: { common: '11.2.12', core: '11.2.12', schedule: '6.1.3' },
  12: { common: '12.5.1', core: '12.5.1', schedule: '12.0.2' },
} as const;

describe('@quorumlock/client from a packed tarball, in projects outside the repository', () => {
  const cluster = new LocalCluster();
  const root = tempDir('quorumlock-packages-');
  let tarball = '';
  let plain: Promise<string> | undefined;
  const children: Child[] = [];

  beforeAll(async () => {
    [tarball] = await Promise.all([packClient(root), cluster.start()]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await cluster.stop();
    removeTempDir(root);
  });

  const env = () => ({ ...process.env, QUORUMLOCK_ENDPOINTS: cluster.endpoints().join(',') });

  /** One project for the plain services and the fenced example: ESM TypeScript, plus a .cjs. */
  function plainProject(): Promise<string> {
    plain ??= makeProject(join(root, 'plain'), {
      type: 'module',
      dependencies: {
        '@quorumlock/client': `file:${tarball}`,
        pg: '8.23.1',
        '@types/pg': '8.23.1',
        ...TYPES_NODE,
      },
      compilerOptions: { module: 'nodenext', target: 'es2022', types: ['node'] },
      files: {
        'src/esm-service.ts': fixture('esm-service.ts'),
        'src/fenced-worker.ts': example('fenced-worker'),
        'cjs-service.cjs': fixture('cjs-service.cjs'),
      },
    }).then(async (dir) => {
      await tsc(dir);
      return dir;
    });
    return plain;
  }

  test('an ES module TypeScript service type-checks with tsc and holds a lock', async () => {
    const dir = await plainProject();
    const out = await run(process.execPath, ['out/esm-service.js'], { cwd: dir, env: env() });
    const r = JSON.parse(out) as { token: string; secondAcquired: boolean; released: boolean };
    expect(BigInt(r.token)).toBeGreaterThan(0n);
    expect(r).toMatchObject({ secondAcquired: false, released: true });
  }, 400_000);

  test('a CommonJS service require()s it and holds a lock', async () => {
    const dir = await plainProject();
    const out = await run(process.execPath, ['cjs-service.cjs'], { cwd: dir, env: env() });
    const r = JSON.parse(out) as { token: string; refused: boolean; released: boolean };
    expect(BigInt(r.token)).toBeGreaterThan(0n);
    expect(r).toMatchObject({ refused: true, released: true });
  }, 400_000);

  test('the fenced-write example: PostgreSQL refuses the write of a worker paused past its TTL', async () => {
    const dir = await plainProject();
    const db = await Postgres.start();
    try {
      const start = (id: string, ...flags: string[]) => {
        const c = new Child(
          id,
          process.execPath,
          [join(dir, 'out/fenced-worker.js'), '--id', id, ...flags],
          {
            logFile: join(dir, `${id}.log`),
            env: { ...env(), DATABASE_URL: db.url, LEASE_TTL_MS: '1500' },
          },
        );
        children.push(c);
        return c;
      };
      const a = start('a', '--pause');
      await a.waitFor('a to stop itself before its second write', () =>
        a.output().includes('a pausing before write 2'),
      );
      // A stopped process has state T in /proc: make sure it is stopped, not just about to be.
      await waitFor('a to be stopped', () => processState(a.pid) === 'T');
      const b = start('b');
      await b.exited;
      expect(b.output()).toContain('b wrote 3');
      a.signal('SIGCONT');
      await a.exited;
      expect(a.proc.exitCode).toBe(3);
      const tokenOf = (c: Child) => BigInt(/fencing token (\d+)/.exec(c.output())![1]!);
      expect(tokenOf(b)).toBeGreaterThan(tokenOf(a));
      expect(a.output()).toContain(`a write 2 refused: token ${tokenOf(a)} is stale`);
      const rows = await run(
        'psql',
        [
          db.url,
          '-At',
          '-c',
          "SELECT fencing_token || ' ' || status FROM invoices WHERE id = '42'",
        ],
        { cwd: dir },
      );
      expect(rows.trim()).toBe(`${tokenOf(b)} b write 3`);
    } finally {
      await db.stop();
    }
  }, 400_000);

  test('every TypeScript example in the READMEs imports the package and compiles', async () => {
    const readmes = ['README.md', 'libs/client/README.md'];
    const dir = join(root, 'readme');
    mkdirSync(join(dir, 'src'), { recursive: true });
    let n = 0;
    for (const readme of readmes)
      for (const block of tsBlocks(readFileSync(join(REPO, readme), 'utf8'))) {
        expect(block).toMatch(/from '@quorumlock\/client(\/[a-z]+)?'/);
        expect(block).not.toMatch(/libs\/client/);
        writeFileSync(join(dir, 'src', `example-${++n}.ts`), `${USER_CODE}\n${block}`);
      }
    expect(n).toBeGreaterThanOrEqual(5);
    await makeProject(dir, {
      type: 'module',
      dependencies: {
        '@quorumlock/client': `file:${tarball}`,
        '@nestjs/common': NEST[12].common,
        '@nestjs/core': NEST[12].core,
        '@nestjs/schedule': NEST[12].schedule,
        'reflect-metadata': '0.2.2',
        rxjs: '7.8.2',
        pg: '8.23.1',
        '@types/pg': '8.23.1',
        ...TYPES_NODE,
      },
      compilerOptions: {
        module: 'nodenext',
        target: 'es2022',
        types: ['node'],
        experimentalDecorators: true,
        noEmit: true,
      },
      files: {},
    });
    await tsc(dir);
  }, 400_000);

  test.each([
    [11, 'CommonJS'],
    [12, 'ES modules'],
  ] as const)(
    'a NestJS %i app (%s) with @Singleton: three instances, one at a time, another after a kill',
    async (major, _modules) => {
      const v = NEST[major];
      const dir = await makeProject(join(root, `nest${major}`), {
        ...(major === 12 ? { type: 'module' as const } : {}),
        dependencies: {
          '@quorumlock/client': `file:${tarball}`,
          '@nestjs/common': v.common,
          '@nestjs/core': v.core,
          '@nestjs/schedule': v.schedule,
          'reflect-metadata': '0.2.2',
          rxjs: '7.8.2',
          ...TYPES_NODE,
        },
        compilerOptions: {
          module: 'nodenext',
          target: 'es2022',
          types: ['node'],
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
        },
        files: { 'src/main.ts': example('singleton-worker') },
      });
      await tsc(dir);
      const ticks = join(dir, 'ticks.log');
      const workers = new Map<string, Child>();
      for (const id of ['w1', 'w2', 'w3']) {
        const c = new Child(
          id,
          process.execPath,
          [join(dir, 'out/main.js'), '--id', id, '--out', ticks],
          {
            logFile: join(dir, `${id}.log`),
            env: { ...env(), LEASE_TTL_MS: '1500', TICK_MS: '100' },
          },
        );
        children.push(c);
        workers.set(id, c);
      }
      // Stopped by the end of the test: they campaign in the next test's election too.
      try {
        const singleton = (not: readonly string[]) =>
          waitFor(
            `a singleton besides [${not.join(', ')}] (${[...workers.values()].map((w) => `${w.name}: ${w.output().slice(-1500)}`).join('\n')})`,
            () => {
              const last = segments(readLines(ticks)).at(-1);
              return last && !not.includes(last.id) && last.lines.length >= 4 ? last.id : undefined;
            },
          );
        const first = await singleton([]);
        await workers.get(first)!.stop('SIGKILL');
        const second = await singleton([first]);
        const segs = segments(readLines(ticks));
        expect(segs.map((s) => s.id)).toEqual([first, second]);
        for (const s of segs) expect(s.lines[0]?.what).toBe('start');
        expect(segs[1]!.lines[0]!.ts).toBeGreaterThanOrEqual(segs[0]!.lines.at(-1)!.ts);
      } finally {
        await Promise.all([...workers.values()].map((w) => w.stop('SIGTERM')));
      }
    },
    600_000,
  );
});
