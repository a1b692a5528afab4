// quorumlock member list|add|promote|remove: cluster membership (see the README, "Growing a
// cluster" and "Replacing a failed node").
import { type Command, Option } from 'commander';
import type { ClusterMembers, QuorumLockClient } from '@quorumlock/client';
import { action, type ClientFlags, clientCommand, EXIT, out, toJson } from './client-common.js';

function table(m: ClusterMembers): string {
  const head = ['ID', 'ROLE', 'PEER ADDRESS', 'CLIENT ADDRESS', 'MATCH'];
  const body = m.members.map((x) => [
    x.id,
    x.isLeader ? 'leader' : x.learner ? 'learner' : 'voter',
    x.peerAddress || '-',
    x.clientAddress || '-',
    String(x.matchIndex),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]?.length ?? 0)));
  const lines = [head, ...body].map((cols) =>
    cols
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
  return [...lines, `configuration index ${m.configIndex}`].join('\n');
}

function print(f: ClientFlags, m: ClusterMembers, done?: string): number {
  if (f.json) out(toJson(m));
  else out(done === undefined ? table(m) : `${done}\n${table(m)}`);
  return EXIT.OK;
}

export function registerMember(program: Command): void {
  const member = program
    .command('member')
    .description('list, add, promote or remove cluster members (one change at a time)');
  clientCommand(member, 'list', 'the members, as the leader knows them (linearizable)').action(
    action(async (client: QuorumLockClient, cmd: Command) => {
      const f = cmd.opts<ClientFlags>();
      return print(f, await client.members({ timeoutMs: f.timeout }));
    }),
  );
  clientCommand(
    member,
    'add',
    'add node ID (started with quorumlock serve --join); returns once the change is committed',
  )
    .argument('<id>', 'the new node id (its --id)')
    .addOption(
      new Option(
        '--peer-address <host:port>',
        'where the others reach its Raft transport',
      ).makeOptionMandatory(),
    )
    .addOption(
      new Option('--client-address <host:port>', 'where it serves clients').makeOptionMandatory(),
    )
    .option('--learner', 'add it as a learner: it catches up without voting; promote it later')
    .action(
      action(async (client: QuorumLockClient, cmd: Command, id: string) => {
        const f = cmd.opts<
          ClientFlags & { peerAddress: string; clientAddress: string; learner?: boolean }
        >();
        const m = await client.addMember(
          {
            id,
            peerAddress: f.peerAddress,
            clientAddress: f.clientAddress,
            learner: f.learner ?? false,
          },
          { timeoutMs: f.timeout },
        );
        return print(f, m, `added ${id} as a ${f.learner ? 'learner' : 'voter'}`);
      }),
    );
  clientCommand(member, 'promote', 'make learner ID a voter (once it has caught up)')
    .argument('<id>', 'node id')
    .action(
      action(async (client: QuorumLockClient, cmd: Command, id: string) => {
        const f = cmd.opts<ClientFlags>();
        return print(f, await client.promoteMember(id, { timeoutMs: f.timeout }), `promoted ${id}`);
      }),
    );
  clientCommand(member, 'remove', 'remove member ID (the leader too: it hands over first)')
    .argument('<id>', 'node id')
    .action(
      action(async (client: QuorumLockClient, cmd: Command, id: string) => {
        const f = cmd.opts<ClientFlags>();
        return print(f, await client.removeMember(id, { timeoutMs: f.timeout }), `removed ${id}`);
      }),
    );
}
