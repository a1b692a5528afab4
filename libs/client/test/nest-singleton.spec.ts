// The @Singleton sample (examples/singleton-worker), three instances on a real 3-node cluster:
// exactly one works at a time, also across a SIGKILL of the elected one and a graceful stop.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Inject, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { LocalCluster } from '../../../test/support/cluster.js';
import { QuorumLockClient, QuorumLockError } from '../src/index.js';
import {
  QuorumLockModule,
  Singleton,
  SingletonCoordinator,
  singletonContext,
} from '../src/nest/index.js';
import { fresh } from './helpers.js';
import { type Line, readLines, segments } from '../../../test/support/ticks.js';
import { waitFor } from '../../testing/src/wait.js';

const SAMPLE = resolve(process.cwd(), 'dist/examples/singleton-worker/src/main.js');
const TTL_MS = 1500;
const TICK_MS = 100;

describe('@Singleton sample: three instances, one at a time', () => {
  const c = new LocalCluster();
  const dir = mkdtempSync(join(tmpdir(), 'quorumlock-singleton-'));
  const out = join(dir, 'ticks.log');
  const workers = new Map<string, ChildProcess>();
  const logs = new Map<string, string>();

  // The sample is compiled by the root build (npm test's pretest step).
  beforeAll(() => c.start(), 60_000);

  afterAll(async () => {
    await Promise.all([...workers.keys()].map((id) => stop(id, 'SIGKILL')));
    await c.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(id: string): void {
    const proc = spawn(process.execPath, [SAMPLE, '--id', id, '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        QUORUMLOCK_ENDPOINTS: c.endpoints().join(','),
        LEASE_TTL_MS: String(TTL_MS),
        TICK_MS: String(TICK_MS),
      },
    });
    logs.set(id, '');
    const keep = (b: Buffer) => logs.set(id, (logs.get(id)! + b.toString()).slice(-20_000));
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    workers.set(id, proc);
  }

  /** Signals a worker and resolves with its exit code (or signal) once it is gone. */
  function stop(id: string, signal: NodeJS.Signals): Promise<number | string | null> {
    const proc = workers.get(id)!;
    workers.delete(id);
    if (proc.exitCode !== null || proc.signalCode !== null)
      return Promise.resolve(proc.exitCode ?? proc.signalCode);
    return new Promise((done) => {
      proc.once('exit', (code, sig) => done(code ?? sig));
      proc.kill(signal);
    });
  }

  /** The instance whose segment is the latest, once it has ticked a few times. */
  async function currentSingleton(not: string[]): Promise<{ id: string; start: Line }> {
    return waitFor(
      `a new singleton besides ${not.join(', ') || 'none'} (logs: ${[...logs].join('\n')})`,
      () => {
        const segs = segments(readLines(out));
        const last = segs[segs.length - 1];
        if (!last || not.includes(last.id) || last.lines.length < 4) return undefined;
        return { id: last.id, start: last.lines[0]! };
      },
      20_000,
    );
  }

  test('in-process: forRootAsync, the method runs only where elected, and close() hands over', async () => {
    const election = fresh('in-process');
    const ID = 'INSTANCE_ID';

    @Injectable()
    class Job {
      constructor(@Inject(ID) readonly id: string) {}

      @Singleton(election)
      run(): string {
        expect(singletonContext()?.election).toBe(election);
        return this.id;
      }
    }

    const make = (id: string) => {
      @Module({ providers: [{ provide: ID, useValue: id }], exports: [ID] })
      class IdModule {}
      @Module({
        imports: [
          IdModule,
          QuorumLockModule.forRootAsync({
            imports: [IdModule],
            inject: [ID],
            useFactory: (owner: string) => ({
              endpoints: c.endpoints(),
              owner,
              singleton: { ttlMs: 1500, waitMs: 5000 },
            }),
          }),
        ],
        providers: [Job],
      })
      class App {}
      return NestFactory.createApplicationContext(App, { logger: false });
    };
    const apps = [await make('a'), await make('b')];
    try {
      const leads = () => apps.filter((a) => a.get(SingletonCoordinator).isLeader(election));
      const first = await waitFor('an elected instance', () => {
        const [only, ...more] = leads();
        return more.length === 0 && only;
      });
      const second = apps.find((a) => a !== first)!;
      expect(first.get(Job).run()).toBe(first.get(Job).id);
      expect(second.get(Job).run()).toBeUndefined();

      const client = first.get(QuorumLockClient);
      await first.close(); // resigns, then closes the client
      apps.splice(apps.indexOf(first), 1);
      await expect(client.describe('x')).rejects.toBeInstanceOf(QuorumLockError);
      await waitFor('the other instance to take over', () =>
        second.get(SingletonCoordinator).isLeader(election),
      );
      expect(second.get(Job).run()).toBe(second.get(Job).id);
    } finally {
      await Promise.all(apps.map((a) => a.close()));
    }
  });

  test('ticks never interleave; a killed singleton is replaced after its lease expires', async () => {
    for (const id of ['w1', 'w2', 'w3']) start(id);
    const first = await currentSingleton([]);

    const killedAt = Date.now();
    await stop(first.id, 'SIGKILL');
    const second = await currentSingleton([first.id]);
    // Its last renewal was at most TTL/3 before the kill, so the lease outlived the kill by at
    // least 2/3 of the TTL; the next singleton may start only after that.
    expect(second.start.ts - killedAt).toBeGreaterThanOrEqual((2 * TTL_MS) / 3 - 50);

    // A graceful stop resigns (Nest re-raises the signal once its shutdown hooks are done).
    expect(await stop(second.id, 'SIGTERM')).toBe('SIGTERM');
    expect(logs.get(second.id)).toContain('resigned billing-worker');
    const third = await currentSingleton([first.id, second.id]);
    expect(third.id).not.toBe(first.id);
    await stop(third.id, 'SIGTERM');

    const lines = readLines(out);
    const segs = segments(lines);
    // Three terms, one per instance, each opened by "start": nobody came back in between.
    expect(segs.map((s) => s.id)).toEqual([first.id, second.id, third.id]);
    for (const s of segs) {
      expect(s.lines[0]?.what).toBe('start');
      expect(s.lines.slice(1).every((l) => l.what === 'tick')).toBe(true);
    }
    // Time windows do not overlap: each term ends before the next begins.
    for (const [i, s] of segs.entries()) {
      if (i === 0) continue;
      // Every segment has a line: segments() opens one with its first.
      expect(s.lines[0]!.ts).toBeGreaterThanOrEqual(segs[i - 1]!.lines.at(-1)!.ts);
    }
    for (const [i, l] of lines.entries())
      if (i > 0) expect(l.ts).toBeGreaterThanOrEqual(lines[i - 1]!.ts);
  });
});
