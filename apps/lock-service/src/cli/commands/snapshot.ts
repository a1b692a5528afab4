// quorumlock snapshot save|status|restore: backups and restoring them into a new cluster (see
// the README, "Backup, restore and disaster recovery").
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { type Command, Option } from 'commander';
import type { QuorumLockClient } from '@quorumlock/client';
import { type BackupFile, BackupFileError, openBackup } from '../../backup/backup-file.js';
import { restoreBackup } from '../../backup/restore-backup.js';
import { peersSchema } from '../../config/config.js';
import { DataDirError } from '../../data-dir.js';
import {
  action,
  type ClientFlags,
  clientCommand,
  err,
  EXIT,
  out,
  toJson,
} from './client-common.js';
import { usageError } from './common.js';

/** A file that is missing, corrupt or of a newer format, or a restore that cannot proceed. */
const EXIT_BAD_FILE = 1;

function summary(f: BackupFile): Record<string, unknown> {
  const h = f.header;
  return {
    file: f.path,
    format: h.format,
    clusterId: h.cluster_id,
    index: h.index,
    term: h.term,
    stateFormat: h.state_format,
    takenBy: h.taken_by,
    takenAt: h.taken_at,
    leases: h.counts.leases,
    locksHeld: h.counts.locks_held,
    electionsLed: h.counts.elections_led,
    waiters: h.counts.waiters,
    maxFencingToken: h.counts.max_token,
    members: h.members.map((m) => m.id),
    bytes: f.bytes,
    sha256: f.checksum,
  };
}

function describe(f: BackupFile): string {
  const h = f.header;
  const c = h.counts;
  return [
    `file          ${f.path}`,
    `format        ${h.format} (state format ${h.state_format})`,
    `cluster       ${h.cluster_id || '-'}`,
    `index         ${h.index}`,
    `term          ${h.term}`,
    `taken         ${h.taken_at} on ${h.taken_by}`,
    `members       ${h.members.map((m) => m.id).join(', ')}`,
    `leases        ${c.leases}`,
    `locks held    ${c.locks_held}`,
    `elections     ${c.elections_led} led`,
    `waiters       ${c.waiters}`,
    `max token     ${c.max_token}`,
    `bytes         ${f.bytes}`,
    `sha256        ${f.checksum} (verified)`,
  ].join('\n');
}

/** Opens and verifies a backup file; a bad one is reported and becomes an exit code. */
async function verified(path: string): Promise<BackupFile | number> {
  try {
    const f = await openBackup(path);
    await f.verify();
    return f;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (e instanceof BackupFileError) err(e.message);
    else if (code === 'ENOENT') err(`${path}: no such file`);
    else err(`${path}: ${(e as Error).message}`);
    return EXIT_BAD_FILE;
  }
}

/** Streams the leader's snapshot to path: written beside it, checked, synced, then renamed. */
async function save(
  client: QuorumLockClient,
  path: string,
  timeoutMs: number,
): Promise<BackupFile> {
  const part = `${path}.part`;
  const stream = createWriteStream(part, { flags: 'w' });
  try {
    for await (const chunk of client.snapshot({ timeoutMs })) {
      if (!stream.write(chunk)) await new Promise<void>((r) => stream.once('drain', () => r()));
    }
    stream.end();
    await finished(stream);
    const fh = await open(part, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await (await openBackup(part)).verify();
    await rename(part, path);
    return await openBackup(path);
  } catch (e) {
    stream.destroy();
    await rm(part, { force: true });
    throw e;
  }
}

export function registerSnapshot(program: Command): void {
  const snapshot = program
    .command('snapshot')
    .description('back up the cluster state to a file, check a file, or restore one');

  clientCommand(snapshot, 'save', 'save a consistent snapshot, taken on the leader, to FILE')
    .argument('<file>', 'where to write it (replaced only once the whole snapshot is checked)')
    .action(
      action(async (client: QuorumLockClient, cmd: Command, file: string) => {
        const f = cmd.opts<ClientFlags>();
        const saved = await save(client, resolve(file), f.timeout);
        if (f.json) out(toJson(summary(saved)));
        else out(`saved snapshot to ${saved.path}\n${describe(saved)}`);
        return EXIT.OK;
      }),
    );

  snapshot
    .command('status')
    .description("print a snapshot file's header and verify its checksum (exit 1 if corrupt)")
    .argument('<file>', 'a file written by quorumlock snapshot save')
    .option('--json', 'machine-readable output')
    .action(async (file: string, flags: { json?: boolean }) => {
      const f = await verified(resolve(file));
      if (typeof f === 'number') process.exit(f);
      out(flags.json ? toJson({ ...summary(f), verified: true }) : describe(f));
    });

  snapshot
    .command('restore')
    .description('write the data dir of one member of a NEW cluster from a snapshot file')
    .argument('<file>', 'a file written by quorumlock snapshot save')
    .addOption(
      new Option(
        '--data-dir <dir>',
        'the data dir to create (absent or empty)',
      ).makeOptionMandatory(),
    )
    .addOption(new Option('--id <id>', "this member's id, one of --peers").makeOptionMandatory())
    .addOption(
      new Option(
        '--peers <id=host:port,...>',
        'every member of the new cluster and its Raft address (the same on every member)',
      ).makeOptionMandatory(),
    )
    .option('--json', 'machine-readable output')
    .action(
      async (
        file: string,
        flags: { dataDir: string; id: string; peers: string; json?: boolean },
        cmd: Command,
      ) => {
        const peers = peersSchema.safeParse(flags.peers);
        if (!peers.success) usageError(cmd, `invalid --peers: ${peers.error.issues[0]!.message}`);
        const f = await verified(resolve(file));
        if (typeof f === 'number') process.exit(f);
        const dataDir = resolve(flags.dataDir);
        try {
          const r = await restoreBackup(f, { dataDir, id: flags.id, peers: peers.data });
          const result = { ...r, dataDir, id: flags.id, members: Object.keys(peers.data) };
          if (flags.json) out(toJson(result));
          else
            out(
              [
                `restored ${f.path} into ${dataDir} for ${flags.id}`,
                `new cluster ${r.clusterId} (${result.members.join(', ')}) from index ${r.index}, term ${r.term}`,
                `${r.leases} leases: each expires a full TTL after the new cluster starts`,
                `start it with: quorumlock serve --id ${flags.id} --data-dir ${dataDir} --peers ${flags.peers} ...`,
              ].join('\n'),
            );
        } catch (e) {
          if (!(e instanceof BackupFileError || e instanceof DataDirError)) throw e;
          err(e.message);
          process.exit(EXIT_BAD_FILE);
        }
      },
    );
}
