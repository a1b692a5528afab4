// Quorum Lock as its users meet it: 3 `quorumlock serve` processes on 127.0.0.1 with default
// settings, driven through the SDK (libs/client).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QuorumLockClient } from '../../libs/client/src/index.js';
import { type ProcessGroup, rssBytes } from '../processes.js';
import { QuorumLockLeases, QuorumLockNodeClient } from './quorumlock-grpc.js';
import {
  type BenchCluster,
  type DiskCounters,
  type HeldLock,
  type LeaseBackend,
  type LockClient,
  promValue,
} from './types.js';
import { waitFor } from '../../libs/testing/src/wait.js';
import { freePort } from '../../libs/testing/src/ports.js';

/** The compiled CLI, next to this module's compiled form (dist/bench/adapters). */
const QUORUMLOCK_BIN = fileURLToPath(
  new URL('../../apps/lock-service/src/cli/quorumlock.js', import.meta.url),
);

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

interface Member {
  id: string;
  client: string;
  peer: string;
  metrics: string;
  dataDir: string;
  log: string;
  proc?: ReturnType<ProcessGroup['spawn']>;
  probe?: QuorumLockNodeClient;
}

export class QuorumLockCluster implements BenchCluster {
  readonly system = 'quorumlock' as const;
  readonly ids = ['n1', 'n2', 'n3'];
  private readonly members = new Map<string, Member>();

  /** nodeArgs go to node itself, before the script: --cpu-prof and its directory. */
  constructor(
    private readonly procs: ProcessGroup,
    private readonly dir: string,
    private readonly nodeArgs: (id: string) => string[] = () => [],
  ) {}

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    for (const id of this.ids) {
      const [c, p, m] = [await freePort(), await freePort(), await freePort()];
      this.members.set(id, {
        id,
        client: `127.0.0.1:${c}`,
        peer: `127.0.0.1:${p}`,
        metrics: `127.0.0.1:${m}`,
        dataDir: join(this.dir, id),
        log: join(this.dir, `${id}.log`),
      });
    }
    for (const id of this.ids) this.startNode(id);
    await this.leader(30_000);
  }

  startNode(id: string): void {
    const m = this.members.get(id)!;
    const peers = [...this.members.values()].map((x) => `${x.id}=${x.peer}`).join(',');
    // Addresses only: every other setting is the default (election timeout 150-300 ms).
    m.proc = this.procs.spawn(
      process.execPath,
      [
        ...this.nodeArgs(id),
        QUORUMLOCK_BIN,
        ...['serve', '--id', id, '--client-address', m.client, '--peer-address', m.peer],
        ...['--peers', peers, '--data-dir', m.dataDir, '--metrics-address', m.metrics],
      ],
      m.log,
    );
  }

  endpoints(): string[] {
    return this.ids.map((id) => this.endpoint(id));
  }

  endpoint(id: string): string {
    return this.members.get(id)!.client;
  }

  isUp(id: string): boolean {
    const p = this.members.get(id)?.proc;
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  private probe(id: string): QuorumLockNodeClient {
    const m = this.members.get(id)!;
    m.probe ??= new QuorumLockNodeClient(m.client);
    return m.probe;
  }

  async leader(timeoutMs = 15_000): Promise<string> {
    return waitFor('a leader every running node agrees on', () => this.agree(), timeoutMs);
  }

  private async agree(): Promise<string | undefined> {
    const up = this.ids.filter((id) => this.isUp(id));
    const all = await Promise.all(up.map((id) => this.probe(id).status()));
    const leader = all[0]?.leader_id;
    // A node killed a moment ago is still the leader its followers remember: not an answer.
    if (!leader || !up.includes(leader)) return undefined;
    const agreed = all.every((s) => s.leader_id === leader && s.leader_client_address !== '');
    return agreed ? leader : undefined;
  }

  serving(id: string): Promise<boolean> {
    return this.probe(id).serving();
  }

  async kill(id: string): Promise<void> {
    const m = this.members.get(id)!;
    m.probe?.close();
    m.probe = undefined;
    if (m.proc) await this.procs.stop(m.proc, 'SIGKILL');
  }

  rssBytes(id: string): number {
    return rssBytes(this.pid(id));
  }

  startupSteps(id: string, sinceWallMs: number): string {
    const steps: [string, RegExp][] = [
      ['listening', /"msg":"quorumlock serving"/],
      ['leader known', /"msg":"leader changed"/],
    ];
    const lines = readFileSync(this.members.get(id)!.log, 'utf8').split('\n');
    const at = (re: RegExp) => {
      for (const line of lines) {
        const t = Date.parse(/"time":"([^"]+)"/.exec(line)?.[1] ?? '');
        if (t >= sinceWallMs && re.test(line)) return t - sinceWallMs;
      }
      return NaN;
    };
    return steps.map(([what, re]) => `${what} after ${at(re)} ms`).join(', ');
  }

  async diskCounters(id: string): Promise<DiskCounters> {
    const m = this.members.get(id)!;
    const res = await fetch(`http://${m.metrics}/metrics`, { signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    return {
      fsyncs: promValue(text, 'quorumlock_raft_storage_fsync_duration_seconds_count'),
      proposals: promValue(text, 'quorumlock_raft_proposals_total{result="committed"}'),
      snapshots: promValue(text, 'quorumlock_raft_snapshots_taken_total'),
    };
  }

  pid(id: string): number | undefined {
    return this.isUp(id) ? this.members.get(id)?.proc?.pid : undefined;
  }

  lockClient(): LockClient {
    return new QuorumLockSdkClient(this.endpoints());
  }

  leaseBackend(address: string): LeaseBackend {
    return new QuorumLockLeases(address);
  }

  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    for (const m of this.members.values()) {
      m.probe?.close();
      m.probe = undefined;
    }
    await Promise.all(
      [...this.members.values()].flatMap((m) => (m.proc ? [this.procs.stop(m.proc, signal)] : [])),
    );
  }
}
