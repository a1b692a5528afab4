// Sample: a "billing worker" deployed as N identical instances of which exactly one works at a
// time. Each instance appends "<instance-id> start <ts>" when it becomes the singleton and
// "<instance-id> tick <ts>" on every tick while it is, to the file given by --out/WORKER_OUT.
//
//   node dist/examples/singleton-worker/src/main.js --id a --out /tmp/ticks.log
//
// Environment: QUORUMLOCK_ENDPOINTS (comma-separated, default 127.0.0.1:7001-7003),
// WORKER_ID, WORKER_OUT, TICK_MS (default 200), LEASE_TTL_MS (default 5000).
import 'reflect-metadata';
import { appendFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { Inject, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { QuorumLockModule, Singleton, singletonContext } from '@quorumlock/client/nestjs';

const { values: args } = parseArgs({
  options: { id: { type: 'string' }, out: { type: 'string' } },
});
const config = {
  id: args.id ?? process.env.WORKER_ID ?? `${hostname()}:${process.pid}`,
  out: args.out ?? process.env.WORKER_OUT ?? '',
  endpoints: (process.env.QUORUMLOCK_ENDPOINTS ?? '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== ''),
  ttlMs: Number(process.env.LEASE_TTL_MS ?? 5000),
};
const TICK_MS = Number(process.env.TICK_MS ?? 200);
if (!config.out) {
  process.stderr.write('singleton-worker: --out FILE (or WORKER_OUT) is required\n');
  process.exit(2);
}

const WORKER_CONFIG = Symbol('WORKER_CONFIG');

@Injectable()
class BillingWorker {
  private term?: bigint;

  constructor(@Inject(WORKER_CONFIG) private readonly cfg: typeof config) {}

  /** Runs on every tick of every instance, but does its work only on the elected one. */
  @Interval(TICK_MS)
  @Singleton('billing-worker')
  tick(): void {
    const ctx = singletonContext()!;
    // One append per line: O_APPEND keeps concurrent instances' lines whole.
    if (ctx.fencingToken !== this.term) {
      this.term = ctx.fencingToken;
      appendFileSync(this.cfg.out, `${this.cfg.id} start ${Date.now()}\n`);
    }
    appendFileSync(this.cfg.out, `${this.cfg.id} tick ${Date.now()}\n`);
  }
}

@Module({
  imports: [
    ScheduleModule.forRoot(),
    QuorumLockModule.forRoot({
      endpoints: config.endpoints,
      owner: config.id,
      singleton: { ttlMs: config.ttlMs, waitMs: 30_000 },
    }),
  ],
  providers: [BillingWorker, { provide: WORKER_CONFIG, useValue: config }],
})
class WorkerModule {}

// No top-level await: the same file is compiled as an ES module (NestJS 12) and as CommonJS
// (NestJS 10/11) by the package tests.
async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(WorkerModule, {
    logger: ['error', 'warn', 'log'],
  });
  // SIGTERM/SIGINT run the shutdown hooks: the singleton resigns and another instance takes over.
  app.enableShutdownHooks();
  process.stdout.write(`singleton-worker ${config.id} ready\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`singleton-worker: ${String(err)}\n`);
  process.exit(1);
});
