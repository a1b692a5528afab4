#!/usr/bin/env node
// The quorumlock command. Each subcommand lives in commands/<name>.ts and registers itself here.
import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE, type RegisterCommand } from './commands/common.js';
import { registerDev } from './commands/dev.js';
import { registerServe } from './commands/serve.js';

const COMMANDS: readonly RegisterCommand[] = [registerServe, registerDev];

const program = new Command('quorumlock')
  .description('Raft-replicated locks, leases and leader election')
  .showHelpAfterError()
  // Throw instead of exiting, so that every usage error leaves with the same code.
  .exitOverride();
for (const register of COMMANDS) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
  process.stderr.write(
    `quorumlock: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
}
