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
        else if (d.held)
          out(
            `${name} held by ${d.owner} token=${d.fencingToken} remaining=${formatDuration(d.remainingMs)} waiters=${d.waiters}`,
          );
        else out(`${name} is not held`);
        return d.held ? EXIT.OK : EXIT.NOT_HELD;
      }),
    );
}
