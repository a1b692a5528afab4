// quorumlock campaign ELECTION VALUE: wins an election and leads until Ctrl-C, then resigns.
import type { Command } from 'commander';
import { NotElectedError, type QuorumLockClient } from '@quorumlock/client';
import {
  action,
  type ClientFlags,
  clientCommand,
  EXIT,
  err,
  out,
  spinner,
  toJson,
  ttlOption,
  untilSignal,
  waitOption,
} from './client-common.js';

interface Flags extends ClientFlags {
  ttl: number;
  wait: number;
  candidate?: string;
}

export function registerCampaign(program: Command): void {
  clientCommand(
    program,
    'campaign',
    'wait to be elected, then lead (renewing) until Ctrl-C/SIGTERM, and resign; exit 1 if not elected or leadership is lost',
  )
    .argument('<election>', 'election name')
    .argument('<value>', 'value announced to observers, e.g. this instance’s address')
    .addOption(ttlOption())
    .addOption(waitOption('10m'))
    .option('--candidate <name>', 'candidate name (default host:pid)')
    .action(
      action(async (client: QuorumLockClient, cmd: Command, election: string, value: string) => {
        const f = cmd.opts<Flags>();
        const sig = untilSignal();
        const stop = new AbortController();
        void sig.promise.then(() => stop.abort());
        try {
          const done = f.wait > 0 ? spinner(`campaigning in ${election}`) : () => undefined;
          const leadership = await client
            .campaign(election, value, {
              ttlMs: f.ttl,
              waitMs: f.wait,
              candidate: f.candidate,
              signal: stop.signal,
            })
            .catch((e: unknown) => {
              if (stop.signal.aborted) return undefined; // interrupted while waiting
              if (e instanceof NotElectedError) return null;
              throw e;
            })
            .finally(done);
          if (leadership === undefined) return EXIT.OK;
          if (leadership === null) {
            if (f.json) out(toJson({ elected: false, election }));
            else err(`not elected in ${election} within ${f.wait} ms`);
            return EXIT.NOT_HELD;
          }
          const grant = {
            elected: true,
            election,
            value,
            candidate: leadership.owner,
            leaseId: leadership.leaseId,
            fencingToken: leadership.fencingToken,
            ttlMs: leadership.ttlMs,
          };
          out(
            f.json
              ? toJson(grant)
              : `elected ${election} value=${JSON.stringify(value)} lease=${leadership.leaseId} token=${leadership.fencingToken}`,
          );
          const lost = new Promise<'lost'>((resolve) =>
            leadership.once('lost', () => resolve('lost')),
          );
          const why = await Promise.race([lost, sig.promise]);
          if (why === 'lost') {
            const reason = (leadership.signal.reason as Error).message;
            if (f.json) out(toJson({ lost: true, election, reason }));
            else err(`lost leadership of ${election}: ${reason}`);
            return EXIT.NOT_HELD;
          }
          // Renewals have stopped either way: a failed resign only leaves the lease to expire.
          const resigned = await leadership.resign().then(
            () => true,
            (e: unknown) => {
              const why = e instanceof Error ? e.message : String(e);
              err(`could not resign ${election} (${why}): it ends when its lease expires`);
              return false;
            },
          );
          if (f.json) out(toJson({ resigned, election }));
          else if (resigned) out(`resigned ${election}`);
          return EXIT.OK;
        } finally {
          sig.dispose();
        }
      }),
    );
}
