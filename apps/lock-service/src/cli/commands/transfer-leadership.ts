// quorumlock transfer-leadership ID: moves Raft leadership to another node (maintenance).
import type { Command } from 'commander';
import type { QuorumLockClient } from '@quorumlock/client';
import { action, type ClientFlags, clientCommand, EXIT, out, toJson } from './client-common.js';

export function registerTransferLeadership(program: Command): void {
  clientCommand(program, 'transfer-leadership', 'make node ID the cluster leader')
    .argument('<id>', 'node id, as shown by status')
    .action(
      action(async (client: QuorumLockClient, cmd: Command, id: string) => {
        const f = cmd.opts<ClientFlags>();
        const r = await client.transferLeadership(id, { timeoutMs: f.timeout });
        out(f.json ? toJson(r) : `leader is now ${r.leaderId}`);
        return EXIT.OK;
      }),
    );
}
