// `quorumlock snapshot restore`: a backup file made into the data dir of one member of a new
// cluster. Every member restores the same file with the same --peers, and so gets the same
// state, the same log position and the same (new) cluster id without talking.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Membership, RocksDbStorage } from '../../../../libs/raft/src/index.js';
import { derivedClusterId, writeClusterId } from '../cluster-id.js';
import { DATA_DIR_FORMAT, isEmptyDir, writeIdentity } from '../data-dir.js';
import { stateFrom } from '../domain/restore.js';
import { readSnapshot, writeSnapshot } from '../domain/snapshot-format.js';
import { type BackupFile, BackupFileError } from './backup-file.js';

export interface RestoreTarget {
  readonly dataDir: string;
  readonly id: string;
  /** Every member of the new cluster and its Raft address, this node included. */
  readonly peers: Readonly<Record<string, string>>;
}

export interface RestoreResult {
  readonly clusterId: string;
  readonly index: number;
  readonly term: number;
  readonly leases: number;
}

/**
 * Writes target.dataDir (absent or empty) from a verified backup. The Raft log starts after the
 * snapshot's index, so every fencing token granted from then on exceeds every token in it. A
 * lease's TTL starts again from the restore: the new cluster's lease clock continues from the
 * snapshot's, and each lease expires a full TTL after it (its holder has had no way to renew
 * it meanwhile). The old members' client addresses are dropped: the new members announce theirs.
 */
export async function restoreBackup(file: BackupFile, t: RestoreTarget): Promise<RestoreResult> {
  if (!Object.hasOwn(t.peers, t.id)) {
    throw new BackupFileError(
      `--id ${t.id} is not one of --peers (${Object.keys(t.peers).join(', ')})`,
    );
  }
  if (!isEmptyDir(t.dataDir)) {
    throw new BackupFileError(
      `data dir ${t.dataDir} is not empty: restore writes a new data dir (move the old one away)`,
    );
  }
  const { index, term } = file.header;
  let records;
  try {
    records = await readSnapshot(file.body());
  } catch (e) {
    throw new BackupFileError(`${file.path}: its state cannot be read: ${(e as Error).message}`);
  }
  records.members = [];
  records.leases = records.leases.map((l) => ({ ...l, expires_at: records.clock + l.ttl_ms }));
  const state = stateFrom(records);

  const ids = Object.keys(t.peers).sort();
  const membership: Membership = {
    index,
    members: ids.map((id) => ({ id, learner: false, address: t.peers[id]! })),
  };
  try {
    // Written as a snapshot received from a leader is: it replaces the (empty) log whole.
    const storage = await RocksDbStorage.open(join(t.dataDir, 'raft'), t.id);
    try {
      const meta = { index, term, membership };
      const data = await storage.receiveSnapshot(
        meta,
        (async function* () {
          yield* writeSnapshot(state);
        })(),
      );
      await storage.save({
        snapshot: { meta, data },
        hardState: { term, vote: '', commit: index },
      });
    } finally {
      await storage.close();
    }
  } catch (e) {
    // Nothing half-written is left to be started by mistake.
    await rm(t.dataDir, { recursive: true, force: true });
    throw e;
  }
  const members = ids.map((id) => `${id}=${t.peers[id]}`).join(',');
  const clusterId = derivedClusterId('restore', file.checksum, members);
  writeClusterId(t.dataDir, clusterId);
  writeIdentity(t.dataDir, { format: DATA_DIR_FORMAT, node: t.id });
  return { clusterId, index, term, leases: state.leases.size };
}
