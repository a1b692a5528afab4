// quorumlock describe NAME: who holds a lock, with which token, for how long yet.
import type { Command } from 'commander';
import type { QuorumLockClient } from '@quorumlock/client';
import {
  action,
  type ClientFlags,
  clientCommand,
  EXIT,
  formatDuration,
  out,
  toJson,
} from './client-common.js';

export function registerDescribe(program: Command): void {
  clientCommand(program, 'describe', 'show who holds a lock (exit 1 if nobody does)')
    .argument('<name>', 'lock name')
    .action(
      action(async (client: QuorumLockClient, cmd: Command, name: string) => {
        const f = cmd.opts<ClientFlags>();
        const d = await client.describe(name, { timeoutMs: f.timeout });
        if (f.json) out(toJson(d));
        else if (d.holders.length > 1 || (d.held && (d.mode === 'shared' || d.limit > 1))) {
          // Every holder, one a line, oldest first.
          const kind = d.mode === 'shared' ? 'shared' : `limit=${d.limit}`;
          out(`${name} held by ${d.holders.length} (${kind}) waiters=${d.waiters}`);
          for (const h of d.holders)
            out(
              `  ${h.owner} ${h.mode} token=${h.fencingToken} remaining=${formatDuration(h.remainingMs)}`,
            );
        } else if (d.held)
          out(
            `${name} held by ${d.owner} token=${d.fencingToken} remaining=${formatDuration(d.remainingMs)} waiters=${d.waiters}`,
          );
        else if (d.remainingMs > 0)
          out(
            `${name} is not held: lock-delay for ${formatDuration(d.remainingMs)} waiters=${d.waiters}`,
          );
        else out(`${name} is not held`);
        return d.held ? EXIT.OK : EXIT.NOT_HELD;
      }),
    );
}
