// What `serve` does to its data dir before the node opens it: checks whose it is, and under
// --force-new-cluster turns the survivor's data into a cluster of one.
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  forceNewCluster,
  RocksDbStorage,
  storedConfiguration,
} from '../../../libs/raft/src/index.js';
import { derivedClusterId, writeClusterId } from './cluster-id.js';
import type { ServerConfig } from './config/config.js';
import { claimDataDir, DataDirError, writeIdentity } from './data-dir.js';

type DataDirConfig = Pick<
  ServerConfig,
  'id' | 'dataDir' | 'peers' | 'peerAddress' | 'forceNewCluster'
>;

export async function prepareDataDir(config: DataDirConfig, logger: Logger): Promise<void> {
  const identity = claimDataDir(config.dataDir, config.id);
  if (!config.forceNewCluster) return;
  const storage = await RocksDbStorage.open(join(config.dataDir, 'raft'), config.id);
  try {
    const loaded = await storage.load();
    const inForce = storedConfiguration(loaded);
    const forcedAt = identity.forced_new_cluster_at;
    if (forcedAt !== undefined && inForce !== undefined && inForce.index > forcedAt) {
      throw new DataDirError(
        `--force-new-cluster: this node was made a cluster of one at log index ${forcedAt}, and ` +
          `its membership has changed since (now ${inForce.members.map((m) => m.id).join(', ')} ` +
          `at ${inForce.index}): forcing again would cut those members off. Remove the flag.`,
      );
    }
    const address = config.peers[config.id] ?? config.peerAddress;
    const forced = await forceNewCluster(storage, { id: config.id, address }, loaded);
    if (!forced.rewritten) {
      logger.warn(
        { index: forced.index },
        '--force-new-cluster: this node already is a cluster of one; nothing changed. Remove the flag',
      );
      return;
    }
    const cluster = derivedClusterId('force-new-cluster', config.id, String(forced.index));
    writeClusterId(config.dataDir, cluster);
    writeIdentity(config.dataDir, { ...identity, forced_new_cluster_at: forced.index });
    const was = forced.previous.map((m) => m.id).filter((id) => id !== config.id);
    const lines = [
      `FORCED A NEW CLUSTER: ${config.id} is now the only member, with the state it had`,
      `its old members (${was.join(', ') || 'from --peers'}) must never be started again on their data dirs`,
      'add members with `quorumlock member add` and `serve --join`; restart this node without --force-new-cluster',
    ];
    if (forced.index - 1 > forced.commitBefore) {
      lines.splice(
        2,
        0,
        `entries ${forced.commitBefore + 1}-${forced.index - 1}, not known to be committed before, are now committed`,
      );
    }
    for (const line of lines) {
      logger.warn({ cluster, index: forced.index, previous: was }, line);
    }
  } finally {
    await storage.close();
  }
}
