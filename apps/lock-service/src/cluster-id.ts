// The id of the cluster a data dir belongs to, in <data dir>/cluster-id. The Raft transport sends
// it with every peer call and refuses calls carrying another one, so that a node started on
// another cluster's data, or pointed at the wrong peers, cannot disturb a cluster.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ClusterIdentity } from '../../../libs/raft/src/index.js';

const FILE = 'cluster-id';
const FORMAT = /^[0-9a-f]{16}$/;

/**
 * The id a cluster gets when bootstrapped: a digest of its initial member ids, so that every
 * node started with the same --peers agrees on it without talking (whatever address each uses to
 * reach the others: proxies, NAT), and a node started with other members (a stray node started
 * without --join) is told apart. Two clusters bootstrapped with the same ids share an id: give
 * clusters whose nodes can reach each other distinct node ids.
 */
export function bootstrapClusterId(peers: Readonly<Record<string, string>>): string {
  return derivedClusterId(Object.keys(peers).sort().join(','));
}

export class ClusterIdFile implements ClusterIdentity {
  private current: string;
  private readonly mismatchListeners: ((peer: string, detail: string) => void)[] = [];

  /**
   * Reads the data dir's cluster id. A data dir without one gets the bootstrap id of `peers`
   * (a new cluster, or data written before cluster ids existed), unless the node joins: it
   * then adopts the id of the cluster that adds it.
   */
  constructor(
    private readonly dataDir: string,
    opts: { readonly peers: Readonly<Record<string, string>>; readonly join: boolean },
    private readonly logger: Logger,
  ) {
    const file = join(dataDir, FILE);
    if (existsSync(file)) {
      const id = readFileSync(file, 'utf8').trim();
      if (!FORMAT.test(id))
        throw new Error(`${file} does not hold a cluster id (16 hex digits): remove it or fix it`);
      this.current = id;
    } else if (opts.join) {
      this.current = '';
    } else {
      this.current = bootstrapClusterId(opts.peers);
      this.write(this.current);
    }
  }

  id(): string {
    return this.current;
  }

  adopt(id: string): void {
    if (this.current !== '' || !FORMAT.test(id)) return;
    this.write(id);
    this.current = id;
    this.logger.info({ cluster: id }, 'joined cluster');
  }

  mismatch(peer: string, detail: string): void {
    this.logger.error({ peer, detail, cluster: this.current }, 'peer belongs to another cluster');
    for (const fn of this.mismatchListeners) fn(peer, detail);
  }

  onMismatch(fn: (peer: string, detail: string) => void): void {
    this.mismatchListeners.push(fn);
  }

  private write(id: string): void {
    writeClusterId(this.dataDir, id);
  }
}

/** Replaces a data dir's cluster id (a restore or a forced new cluster makes a new cluster). */
export function writeClusterId(dataDir: string, id: string): void {
  if (!FORMAT.test(id)) throw new Error(`cluster id ${JSON.stringify(id)} is not 16 hex digits`);
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, FILE);
  writeFileSync(`${file}.tmp`, `${id}\n`, { flush: true });
  renameSync(`${file}.tmp`, file);
}

/**
 * The id of a cluster made from another's data (a restore, a forced new cluster): a digest of
 * where it comes from, so that every member made from the same data agrees on it without
 * talking, and never the old cluster's id, so that members of the old one cannot mix in.
 */
export function derivedClusterId(...parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}
