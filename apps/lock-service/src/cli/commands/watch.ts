// quorumlock watch PREFIX: lock events as they happen, until Ctrl-C.
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
  untilSignal,
} from './client-common.js';

export function registerWatch(program: Command): void {
  clientCommand(program, 'watch', 'print lock events for names starting with PREFIX until Ctrl-C')
    .argument('[prefix]', 'name prefix (default: every lock)', '')
    .action(
      action(async (client: QuorumLockClient, cmd: Command, prefix: string) => {
        const f = cmd.opts<ClientFlags>();
        const stop = new AbortController();
        const sig = untilSignal();
        void sig.promise.then(() => stop.abort());
        try {
          const events = client.watch(prefix, {
            signal: stop.signal,
            // Keep watching across leader changes, but say that events may have been missed.
            onGap: (e) =>
              err(`watch interrupted, resubscribing (events may be missed): ${e.message}`),
          });
          for await (const e of events) {
            out(
              f.json ? toJson(e) : `${e.type} ${e.name} owner=${e.owner} token=${e.fencingToken}`,
            );
          }
        } finally {
          sig.dispose();
        }
        return EXIT.OK;
      }),
    );
}
