// quorumlock observe ELECTION: the leader now and on every change, until Ctrl-C.
import type { Command } from 'commander';
import type { QuorumLockClient } from '@quorumlock/client';
import {
  action,
  type ClientFlags,
  clientCommand,
  EXIT,
  out,
  toJson,
  untilSignal,
} from './client-common.js';
import { describeLeader } from './leader.js';

export function registerObserve(program: Command): void {
  clientCommand(program, 'observe', 'print the leader of an election, then every change')
    .argument('<election>', 'election name')
    .action(
      action(async (client: QuorumLockClient, cmd: Command, election: string) => {
        const f = cmd.opts<ClientFlags>();
        const stop = new AbortController();
        const sig = untilSignal();
        void sig.promise.then(() => stop.abort());
        try {
          for await (const l of client.observe(election, { signal: stop.signal }))
            out(f.json ? toJson(l) : describeLeader(l));
        } finally {
          sig.dispose();
        }
        return EXIT.OK;
      }),
    );
}
