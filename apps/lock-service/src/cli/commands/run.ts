// quorumlock run --lock NAME -- COMMAND...: runs a command while holding a lock, like
// `etcdctl lock NAME CMD` or `consul lock`. The command learns its fencing token from the
// environment; if the lock is lost it is stopped (SIGTERM, then SIGKILL after --grace).
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { type Command, Option } from 'commander';
import { LockNotAcquiredError, type QuorumLockClient } from '@quorumlock/client';
import {
  action,
  addLockKindOptions,
  type ClientFlags,
  clientCommand,
  EXIT,
  err,
  type LockKindFlags,
  lockKindFrom,
  ownerOption,
  parseDuration,
  spinner,
  toJson,
  ttlOption,
  waitOption,
} from './client-common.js';
import { usageError } from './common.js';

interface Flags extends ClientFlags, LockKindFlags {
  lock: string;
  ttl: number;
  wait: number;
  grace: number;
  owner?: string;
}

/** A shell's convention: 128 + signal number for a command killed by a signal. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

export function registerRun(program: Command): void {
  const run = clientCommand(
    program,
    'run',
    'run COMMAND while holding a lock (renewed), release it after, and exit with the command’s code; if the lock is lost the command gets SIGTERM, then SIGKILL after --grace',
  )
    .requiredOption('--lock <name>', 'lock name')
    .addOption(ttlOption())
    .addOption(waitOption('10m'))
    .addOption(ownerOption())
    .addOption(
      new Option('--grace <duration>', 'time between SIGTERM and SIGKILL when the lock is lost')
        .argParser(parseDuration)
        .default(10_000, '10s'),
    )
    .argument('<command...>', 'the command and its arguments (after --)');
  addLockKindOptions(run).action(
    action(async (client: QuorumLockClient, cmd: Command, argv: string[]) => {
      const f = cmd.opts<Flags>();
      // Commander requires <command...>; this only tells the compiler so.
      const [command, ...args] = argv;
      if (command === undefined) usageError(cmd, 'error: missing command');
      const kind = lockKindFrom(cmd, f);
      const done = f.wait > 0 ? spinner(`waiting for lock ${f.lock}`) : () => undefined;
      const lock = await client
        .acquire(f.lock, { ttlMs: f.ttl, waitMs: f.wait, owner: f.owner, ...kind })
        .catch((e: unknown) => {
          if (!(e instanceof LockNotAcquiredError)) throw e;
          if (f.json)
            process.stderr.write(
              `${toJson({ acquired: false, name: f.lock, holder: e.holder })}\n`,
            );
          else err(`lock ${f.lock} is held by ${e.holder}`);
          return undefined;
        })
        .finally(done);
      if (!lock) return EXIT.NOT_HELD;
      if (f.json)
        process.stderr.write(
          `${toJson({ acquired: true, name: f.lock, leaseId: lock.leaseId, fencingToken: lock.fencingToken })}\n`,
        );

      const child = spawn(command, args, {
        stdio: 'inherit',
        env: {
          ...process.env,
          QUORUMLOCK_LOCK: f.lock,
          QUORUMLOCK_FENCING_TOKEN: String(lock.fencingToken),
          QUORUMLOCK_LEASE_ID: lock.leaseId,
        },
      });
      // Pass termination requests on: the command decides how to stop, we wait for it.
      const forward = (s: NodeJS.Signals) => child.kill(s);
      const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
      for (const s of signals) process.on(s, forward);
      let killTimer: NodeJS.Timeout | undefined;
      const onLost = () => {
        err(`lock ${f.lock} lost (${(lock.signal.reason as Error).message}); stopping the command`);
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), f.grace);
      };
      lock.once('lost', onLost);

      const code = await new Promise<number>((resolve) => {
        child.once('error', (e: NodeJS.ErrnoException) => {
          err(`cannot run ${command}: ${e.message}`);
          resolve(e.code === 'ENOENT' ? 127 : 126);
        });
        child.once('exit', (c, s) => resolve(exitCodeOf(c, s)));
      });
      clearTimeout(killTimer);
      for (const s of signals) process.off(s, forward);
      lock.off('lost', onLost);
      await lock.release().catch((e: Error) => err(`could not release ${f.lock}: ${e.message}`));
      return code;
    }),
  );
}
