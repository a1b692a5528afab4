// What the command files share. Commands live one per file and register themselves on the program.
import type { Command } from 'commander';

/** Bad flags or configuration, as opposed to a failure while running (1). */
export const EXIT_USAGE = 2;

export type RegisterCommand = (program: Command) => void;

/** Reports through commander, so the message is followed by the command's usage. */
export function usageError(command: Command, message: string): never {
  return command.error(message, { exitCode: EXIT_USAGE, code: 'quorumlock.usage' });
}
