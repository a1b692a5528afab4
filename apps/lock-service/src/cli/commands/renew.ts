// quorumlock renew LEASE: extends a lease by its TTL, once.
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

export function registerRenew(program: Command): void {
  clientCommand(program, 'renew', 'renew a lease once (exit 3 if it expired or was released)')
    .argument('<lease>', 'lease id, as printed by acquire')
    .action(
      action(async (client: QuorumLockClient, cmd: Command, lease: string) => {
        const f = cmd.opts<ClientFlags>();
        const r = await client.renew(lease, { timeoutMs: f.timeout });
        if (f.json) out(toJson({ renewed: true, leaseId: r.leaseId, ttlMs: r.ttlMs }));
        else out(`renewed lease=${r.leaseId} ttl=${formatDuration(r.ttlMs)}`);
        return EXIT.OK;
      }),
    );
}
