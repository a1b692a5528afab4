#!/usr/bin/env node
// The quorumlock command. Each subcommand lives in commands/<name>.ts and registers itself here.
import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE, type RegisterCommand } from './commands/common.js';

type Load = () => Promise<RegisterCommand>;

/**
 * Each command's module, loaded on demand: the server's (NestJS, RocksDB) takes most of a
 * second to load, which every client command would otherwise pay. All are loaded when the
 * command line names none of them (help, usage errors), so that the listing stays complete.
 */
const COMMANDS: readonly (readonly [name: string, load: Load])[] = [
  ['serve', async () => (await import('./commands/serve.js')).registerServe],
  ['dev', async () => (await import('./commands/dev.js')).registerDev],
  ['acquire', async () => (await import('./commands/acquire.js')).registerAcquire],
  ['renew', async () => (await import('./commands/renew.js')).registerRenew],
  ['release', async () => (await import('./commands/release.js')).registerRelease],
  ['describe', async () => (await import('./commands/describe.js')).registerDescribe],
  ['watch', async () => (await import('./commands/watch.js')).registerWatch],
  ['run', async () => (await import('./commands/run.js')).registerRun],
  ['campaign', async () => (await import('./commands/campaign.js')).registerCampaign],
  ['leader', async () => (await import('./commands/leader.js')).registerLeader],
  ['observe', async () => (await import('./commands/observe.js')).registerObserve],
  ['status', async () => (await import('./commands/status.js')).registerStatus],
  ['member', async () => (await import('./commands/member.js')).registerMember],
  ['snapshot', async () => (await import('./commands/snapshot.js')).registerSnapshot],
  [
    'transfer-leadership',
    async () => (await import('./commands/transfer-leadership.js')).registerTransferLeadership,
  ],
];

const program = new Command('quorumlock')
  .description('Raft-replicated locks, leases and leader election')
  .showHelpAfterError()
  // Throw instead of exiting, so that every usage error leaves with the same code.
  .exitOverride();
const named = process.argv[2];
const wanted = COMMANDS.filter(([name]) => name === named);
for (const [, load] of wanted.length > 0 ? wanted : COMMANDS) (await load())(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
  process.stderr.write(
    `quorumlock: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
}
