// Starts `quorumlock serve` processes on 127.0.0.1 with data on disk, for end-to-end tests.
// Every process it starts is killed by stop(); ports are picked free, never fixed.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { StatusResponse } from '../../apps/lock-service/src/domain/api.js';

export type { StatusResponse };
import { ApiClient } from './grpc-clients.js';
import { waitFor } from '../../libs/testing/src/wait.js';
import { freePort } from '../../libs/testing/src/ports.js';

export const QUORUMLOCK_BIN = resolve(
  process.cwd(),
  'dist/apps/lock-service/src/cli/quorumlock.js',
);

interface Member {
  id: string;
  client: string;
  peer: string;
  metrics: string;
  proc?: ChildProcess;
  api?: ApiClient;
  output: string[];
}

export class ServiceCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'quorumlock-svc-'));
  readonly members = new Map<string, Member>();

  constructor(
    readonly ids: string[] = ['n1', 'n2', 'n3'],
    private readonly extraArgs: string[] = [],
  ) {}

  async start(): Promise<void> {
    for (const id of this.ids) {
      const [c, p, m] = [await freePort(), await freePort(), await freePort()];
      this.members.set(id, {
        id,
        client: `127.0.0.1:${c}`,
        peer: `127.0.0.1:${p}`,
        metrics: `127.0.0.1:${m}`,
        output: [],
      });
    }
    for (const id of this.ids) this.startNode(id);
    await waitFor('every node to know the leader', () => this.allAgree(), 20_000);
  }

  peersFlag(): string {
    return [...this.members.values()].map((m) => `${m.id}=${m.peer}`).join(',');
  }

  startNode(id: string): void {
    const m = this.members.get(id)!;
    const args = [
      'serve',
      '--id',
      id,
      '--client-address',
      m.client,
      '--peer-address',
      m.peer,
      '--peers',
      this.peersFlag(),
      '--data-dir',
      join(this.dir, id),
      '--metrics-address',
      m.metrics,
      ...this.extraArgs,
    ];
    m.output = [];
    m.proc = spawn(process.execPath, [QUORUMLOCK_BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Keep the last lines of each node's log for failure messages; bounded.
    const keep = (b: Buffer) => {
      m.output.push(b.toString());
      if (m.output.length > 2000) m.output.shift();
    };
    m.proc.stdout!.on('data', keep);
    m.proc.stderr!.on('data', keep);
  }

  api(id: string): ApiClient {
    const m = this.members.get(id)!;
    m.api ??= new ApiClient(m.client);
    return m.api;
  }

  isUp(id: string): boolean {
    const p = this.members.get(id)?.proc;
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const m = this.members.get(id)!;
    const p = m.proc;
    m.api?.close();
    m.api = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    return new Promise((ok) => {
      p.once('exit', (code) => ok(code));
      p.kill(signal);
    });
  }

  async status(id: string): Promise<StatusResponse> {
    return this.api(id).call<StatusResponse>(this.api(id).cluster, 'Status', {}, 2000);
  }

  /** The leader every running node agrees on (and has applied up to), if any. */
  async allAgree(): Promise<string | undefined> {
    const up = this.ids.filter((id) => this.isUp(id));
    const all = await Promise.all(up.map((id) => this.status(id)));
    const leader = all[0]?.leader_id;
    // A node killed a moment ago is still the leader its followers remember: not an answer.
    if (!leader || !up.includes(leader)) return undefined;
    if (!all.every((s) => s.leader_id === leader && s.leader_client_address !== ''))
      return undefined;
    return leader;
  }

  async leader(timeoutMs = 15_000): Promise<string> {
    return waitFor('a leader known to every running node', () => this.allAgree(), timeoutMs);
  }

  logs(id: string): string {
    return this.members.get(id)!.output.join('');
  }

  async stop(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.kill(id)));
    // QUORUMLOCK_TEST_LOGS=dir keeps each node's last log lines, to diagnose a failed run.
    const keep = process.env.QUORUMLOCK_TEST_LOGS;
    if (keep) {
      mkdirSync(keep, { recursive: true });
      for (const id of this.ids)
        writeFileSync(join(keep, `${basename(this.dir)}-${id}.log`), this.logs(id));
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
