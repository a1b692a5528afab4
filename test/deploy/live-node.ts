// One single-node server in this process, to learn which metric names the service exports.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServerConfig } from '../../apps/lock-service/src/config/config.js';
import { createLogger, serve } from '../../apps/lock-service/src/server.js';
import { type Exposition, scrape } from '../support/metrics.js';
import { waitFor } from '../../libs/testing/src/wait.js';
import { freePort } from '../../libs/testing/src/ports.js';

/** Every name the service exports, read from a node that has elected itself. */
export async function exportedNames(): Promise<ReadonlySet<string>> {
  const dir = mkdtempSync(join(tmpdir(), 'quorumlock-names-'));
  const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
  const config = loadServerConfig(
    {
      id: 'n1',
      clientAddress: `127.0.0.1:${client}`,
      peerAddress: `127.0.0.1:${peer}`,
      peers: `n1=127.0.0.1:${peer}`,
      dataDir: dir,
      httpAddress: `127.0.0.1:${metrics}`,
    },
    {},
  );
  const logger = createLogger({ logFormat: 'json', logLevel: 'silent' });
  const server = await serve(config, { logger, handleSignals: false });
  try {
    const e: Exposition = await waitFor(
      'the node to lead',
      async () => {
        const e = await scrape(config.httpAddress);
        return e.samples.some((s) => s.name === 'quorumlock_raft_is_leader' && s.value === 1)
          ? e
          : undefined;
      },
      10_000,
    );
    return e.names;
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
