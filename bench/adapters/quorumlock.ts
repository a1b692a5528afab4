// Quorum Lock as its users meet it: 3 `quorumlock serve` processes on 127.0.0.1 with default
// settings, started by the test kit, driven through the SDK (libs/client).
import { readFileSync } from 'node:fs';
import { QuorumLockClient } from '@quorumlock/client';
import { LocalCluster } from '../../test/support/cluster.js';
import { rssBytes } from '../processes.js';
import { QuorumLockLeases, QuorumLockNodeClient } from './quorumlock-grpc.js';
import {
  type BenchCluster,
  type DiskCounters,
  type HeldLock,
  type LeaseBackend,
  type LockClient,
  type NodeHealth,
  promValue,
} from './types.js';

export class QuorumLockSdkClient implements LockClient {
  private readonly client: QuorumLockClient;

  constructor(endpoints: string[]) {
    this.client = new QuorumLockClient({ endpoints, owner: 'bench' });
  }

  acquire(name: string, ttlMs: number, waitMs: number): Promise<HeldLock> {
    return this.client.acquire(name, { ttlMs, waitMs });
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** The test kit's cluster with the benchmark's probes, counters and clients. */
export class QuorumLockCluster extends LocalCluster implements BenchCluster {
  readonly system = 'quorumlock' as const;
  private readonly probes = new Map<string, QuorumLockNodeClient>();

  /**
   * Addresses only: every setting is the default (election timeout 150-300 ms). nodeArgs go to
   * node itself, before the script: --cpu-prof and its directory. Logs go to <dir>/<id>.log.
   */
  constructor(dir: string, nodeArgs: (id: string) => string[] = () => []) {
    super({ dir, nodeArgs, ownGroups: true });
  }

  /** etcd starts at the same time on the same machine: more time than a test's cluster. */
  override start(timeoutMs = 30_000): Promise<void> {
    return super.start(timeoutMs);
  }

  endpoint(id: string): string {
    return this.node(id).client;
  }

  private probe(id: string): QuorumLockNodeClient {
    let p = this.probes.get(id);
    if (!p) {
      p = new QuorumLockNodeClient(this.endpoint(id));
      this.probes.set(id, p);
    }
    return p;
  }

  serving(id: string): Promise<boolean> {
    return this.probe(id).serving();
  }

  override async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.probes.get(id)?.close();
    this.probes.delete(id);
    await super.kill(id, signal);
  }

  rssBytes(id: string): number {
    return rssBytes(this.pid(id));
  }

  startupSteps(id: string, sinceWallMs: number): string {
    const steps: [string, RegExp][] = [
      ['listening', /"msg":"quorumlock serving"/],
      ['leader known', /"msg":"leader changed"/],
    ];
    const lines = readFileSync(this.logFile(id), 'utf8').split('\n');
    const at = (re: RegExp) => {
      for (const line of lines) {
        const t = Date.parse(/"time":"([^"]+)"/.exec(line)?.[1] ?? '');
        if (t >= sinceWallMs && re.test(line)) return t - sinceWallMs;
      }
      return NaN;
    };
    return steps.map(([what, re]) => `${what} after ${at(re)} ms`).join(', ');
  }

  private async metricsText(id: string): Promise<string> {
    const res = await fetch(`http://${this.node(id).http}/metrics`, {
      signal: AbortSignal.timeout(2000),
    });
    return res.text();
  }

  async health(id: string): Promise<NodeHealth> {
    const text = await this.metricsText(id);
    return {
      leaderChanges: promValue(text, 'quorumlock_raft_leader_changes_total'),
      hasLeader: promValue(text, 'quorumlock_raft_has_leader') === 1,
      lagMaxMs: 1000 * promValue(text, 'quorumlock_event_loop_lag_max_seconds'),
    };
  }

  async diskCounters(id: string): Promise<DiskCounters> {
    const text = await this.metricsText(id);
    return {
      fsyncs: promValue(text, 'quorumlock_raft_storage_fsync_duration_seconds_count'),
      proposals: promValue(text, 'quorumlock_raft_proposals_total{result="committed"}'),
      snapshots: promValue(text, 'quorumlock_raft_snapshots_taken_total'),
    };
  }

  lockClient(): LockClient {
    return new QuorumLockSdkClient(this.endpoints());
  }

  leaseBackend(address: string): LeaseBackend {
    return new QuorumLockLeases(address);
  }

  override async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    for (const p of this.probes.values()) p.close();
    this.probes.clear();
    await super.stop(signal);
  }
}
