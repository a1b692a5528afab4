// quorumlock leader ELECTION: the current leader of an election.
import type { Command } from 'commander';
import type { LeaderInfo, QuorumLockClient } from '@quorumlock/client';
import { action, type ClientFlags, clientCommand, EXIT, out, toJson } from './client-common.js';

export function describeLeader(l: LeaderInfo): string {
  return l.hasLeader
    ? `${l.election} leader=${l.candidate} value=${JSON.stringify(l.value)} token=${l.fencingToken}`
    : `${l.election} has no leader`;
}

export function registerLeader(program: Command): void {
  clientCommand(program, 'leader', 'show the leader of an election (exit 1 if there is none)')
    .argument('<election>', 'election name')
    .action(
      action(async (client: QuorumLockClient, cmd: Command, election: string) => {
        const f = cmd.opts<ClientFlags>();
        const l = await client.leader(election, { timeoutMs: f.timeout });
        out(f.json ? toJson(l) : describeLeader(l));
        return l.hasLeader ? EXIT.OK : EXIT.NOT_HELD;
      }),
    );
}
