// quorumlock acquire NAME: takes a lock and leaves it held for its TTL (renew/release by lease).
import type { Command } from 'commander';
import { LockNotAcquiredError, type QuorumLockClient } from '@quorumlock/client';
import {
  action,
  addLockKindOptions,
  type ClientFlags,
  clientCommand,
  EXIT,
  err,
  formatDuration,
  type LockKindFlags,
  lockKindFrom,
  out,
  ownerOption,
  spinner,
  toJson,
  ttlOption,
  waitOption,
} from './client-common.js';

interface Flags extends ClientFlags, LockKindFlags {
  ttl: number;
  wait: number;
  owner?: string;
}

export function registerAcquire(program: Command): void {
  addLockKindOptions(
    clientCommand(
      program,
      'acquire',
      'take a lock and exit; it stays held until its TTL runs out (see renew, release)',
    )
      .argument('<name>', 'lock name')
      .addOption(ttlOption())
      .addOption(waitOption('0'))
      .addOption(ownerOption()),
  ).action(
    action(
      async (client: QuorumLockClient, cmd: Command, name: string) => {
        const f = cmd.opts<Flags>();
        const kind = lockKindFrom(cmd, f);
        const stop = f.wait > 0 ? spinner(`waiting for lock ${name}`) : () => undefined;
        // Not auto-renewed and not released on exit: the lease outlives this process by design.
        const lock = await client
          .acquire(name, {
            ttlMs: f.ttl,
            waitMs: f.wait,
            owner: f.owner,
            autoRenew: false,
            ...kind,
          })
          .catch((e: unknown) => {
            if (e instanceof LockNotAcquiredError) return e.holder;
            throw e;
          })
          .finally(stop);
        if (typeof lock === 'string') {
          if (f.json) out(toJson({ acquired: false, name, holder: lock }));
          else err(`lock ${name} is held by ${lock}`);
          return EXIT.NOT_HELD;
        }
        const grant = {
          acquired: true,
          name,
          leaseId: lock.leaseId,
          fencingToken: lock.fencingToken,
          ttlMs: lock.ttlMs,
          owner: lock.owner,
        };
        if (f.json) out(toJson(grant));
        else
          out(
            `acquired ${name} lease=${lock.leaseId} token=${lock.fencingToken} ttl=${formatDuration(lock.ttlMs)} owner=${lock.owner}`,
          );
        return EXIT.OK;
      },
      { release: false },
    ),
  );
}
