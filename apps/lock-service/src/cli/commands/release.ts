// quorumlock release LEASE [NAME]: releases one lock of a lease, or the lease and all it holds.
import type { Command } from 'commander';
import type { QuorumLockClient } from '@quorumlock/client';
import {
  action,
  type ClientFlags,
  clientCommand,
  EXIT,
  err,
  out,
  toJson,
} from './client-common.js';

export function registerRelease(program: Command): void {
  clientCommand(
    program,
    'release',
    'release the lock NAME held by a lease, or without NAME the lease and everything it holds',
  )
    .argument('<lease>', 'lease id, as printed by acquire')
    .argument('[name]', 'lock name')
    .action(
      action(async (client: QuorumLockClient, cmd: Command, lease: string, name?: string) => {
        const f = cmd.opts<ClientFlags>();
        const released = await client.release(lease, name ?? '', { timeoutMs: f.timeout });
        if (f.json) out(toJson({ released, leaseId: lease, name: name ?? null }));
        else if (released) out(name ? `released ${name}` : `released lease ${lease}`);
        else if (name) err(`lease ${lease} does not hold ${name} (or has expired)`);
        else err(`lease ${lease} not found: it expired or was released`);
        if (released) return EXIT.OK;
        return name ? EXIT.NOT_HELD : EXIT.NOT_FOUND;
      }),
    );
}
