// A cluster of `quorumlock serve` processes on 127.0.0.1 with data on disk, whose Raft links all
// go through the harness's proxies. Each node gets its own --peers: its own entry is its real
// peer address (the config requires the same port as --peer-address), every other entry is the
// proxy of the link from it to that peer. stop() kills every process and closes every proxy.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApiClient } from '../support/grpc-clients.js';
import type { RoleChange } from './history.js';
import { ProxyMesh } from './proxy.js';
import { ignoreRejection } from '../../libs/common/src/ignore.js';
import { freePort } from '../../libs/testing/src/ports.js';

/** The built server: process tests run the compiled code (`npm run build` first). */
const QUORUMLOCK_BIN = resolve(process.cwd(), 'dist/apps/lock-service/src/cli/quorumlock.js');

export interface ClusterSettings {
  electionTimeoutMinMs: number;
  electionTimeoutMaxMs: number;
  heartbeatIntervalMs: number;
  checkpointIntervalMs: number;
  snapshotEntries: number;
}

export const DEFAULT_SETTINGS: ClusterSettings = {
  electionTimeoutMinMs: 150,
  electionTimeoutMaxMs: 300,
  heartbeatIntervalMs: 50,
  // Short, so that the dead-client bound (TTL + election timeout + checkpoint) is tight.
  checkpointIntervalMs: 1000,
  // Small, so that restarted and lagging nodes catch up by snapshot too.
  snapshotEntries: 2000,
};

interface Node {
  id: string;
  clientPort: number;
  peerPort: number;
  metricsPort: number;
  proc?: ChildProcess;
  paused: boolean;
  /** Last lines of its output, for the report. */
  log: string[];
  /** Exits the harness did not cause (a crash is a finding). */
  unexpectedExits: string[];
  expectingExit: boolean;
}

interface Status {
  id: string;
  role: string;
  term: number;
  leader_id: string;
  leader_client_address: string;
}

/** A node that does not answer a poll (down, paused, cut off) has no say in its outcome. */
const NO_ANSWER = 'a node that does not answer has no say';

const LOG_LINES = 200;

/**
 * Every server process alive, so that a runner that exits without reaching stop() (a test
 * timeout tearing jest down, an uncaught error) does not leave them running.
 */
const running = new Set<ChildProcess>();
const dataDirs = new Set<string>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
});

export class ChaosCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'quorumlock-chaos-'));
  readonly mesh = new ProxyMesh();
  private readonly nodes = new Map<string, Node>();
  private readonly apis = new Map<string, ApiClient>();
  private roleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ids: readonly string[],
    readonly settings: ClusterSettings = DEFAULT_SETTINGS,
  ) {
    dataDirs.add(this.dir);
  }

  async start(): Promise<void> {
    for (const id of this.ids) {
      const [clientPort, peerPort, metricsPort] = [
        await freePort(),
        await freePort(),
        await freePort(),
      ];
      this.nodes.set(id, {
        id,
        clientPort,
        peerPort,
        metricsPort,
        paused: false,
        log: [],
        unexpectedExits: [],
        expectingExit: false,
      });
    }
    for (const a of this.ids)
      for (const b of this.ids) if (a !== b) await this.mesh.add(a, b, this.node(b).peerPort);
    for (const id of this.ids) this.spawn(id);
    if (!(await this.awaitLeader(30_000))) {
      const { unexpectedExits, logs } = this.diagnostics();
      const tail = Object.entries(logs).map(([id, l]) => `${id}: ${l.slice(-5).join('\n')}`);
      throw new Error(
        `no leader within 30 s of starting\n${[...unexpectedExits, ...tail].join('\n')}`,
      );
    }
  }

  private node(id: string): Node {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  clientAddresses(): string[] {
    return this.ids.map((id) => `127.0.0.1:${this.node(id).clientPort}`);
  }

  private peersFlag(id: string): string {
    return this.ids
      .map((o) =>
        o === id
          ? `${o}=127.0.0.1:${this.node(o).peerPort}`
          : `${o}=127.0.0.1:${this.mesh.link(id, o).port}`,
      )
      .join(',');
  }

  spawn(id: string): void {
    const n = this.node(id);
    const s = this.settings;
    const args = [
      'serve',
      ...['--id', id, '--peers', this.peersFlag(id)],
      ...['--client-address', `127.0.0.1:${n.clientPort}`],
      ...['--peer-address', `127.0.0.1:${n.peerPort}`],
      ...['--metrics-address', `127.0.0.1:${n.metricsPort}`],
      ...['--data-dir', join(this.dir, id)],
      ...['--election-timeout-min-ms', String(s.electionTimeoutMinMs)],
      ...['--election-timeout-max-ms', String(s.electionTimeoutMaxMs)],
      ...['--heartbeat-interval-ms', String(s.heartbeatIntervalMs)],
      ...['--checkpoint-interval-ms', String(s.checkpointIntervalMs)],
      ...['--snapshot-entries', String(s.snapshotEntries)],
      ...['--log-level', 'warn'],
    ];
    const proc = spawn(process.execPath, [QUORUMLOCK_BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    n.proc = proc;
    running.add(proc);
    n.paused = false;
    n.expectingExit = false;
    const keep = (b: Buffer) => {
      for (const line of b.toString().split('\n')) if (line) n.log.push(line);
      if (n.log.length > LOG_LINES) n.log.splice(0, n.log.length - LOG_LINES);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    proc.once('exit', (code, signal) => {
      running.delete(proc);
      if (!n.expectingExit) n.unexpectedExits.push(`${id} exited (code ${code}, ${signal})`);
    });
  }

  isUp(id: string): boolean {
    const p = this.node(id).proc;
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  isPaused(id: string): boolean {
    return this.node(id).paused;
  }

  /** kill -9; a stopped process dies too. */
  async kill(id: string): Promise<void> {
    const n = this.node(id);
    const p = n.proc;
    this.apis.get(id)?.close();
    this.apis.delete(id);
    if (!p || !this.isUp(id)) return;
    n.expectingExit = true;
    await new Promise<void>((ok) => {
      p.once('exit', () => ok());
      p.kill('SIGKILL');
    });
    n.paused = false;
  }

  pause(id: string): void {
    if (!this.isUp(id) || this.node(id).paused) return;
    this.node(id).proc!.kill('SIGSTOP');
    this.node(id).paused = true;
  }

  resume(id: string): void {
    if (!this.isUp(id) || !this.node(id).paused) return;
    this.node(id).proc!.kill('SIGCONT');
    this.node(id).paused = false;
  }

  private api(id: string): ApiClient {
    let a = this.apis.get(id);
    if (!a) {
      a = new ApiClient(`127.0.0.1:${this.node(id).clientPort}`);
      this.apis.set(id, a);
    }
    return a;
  }

  async status(id: string, timeoutMs = 500): Promise<Status> {
    const a = this.api(id);
    return a.call<Status>(a.cluster, 'Status', {}, timeoutMs);
  }

  /** Nodes that run and are not stopped: the ones that can answer. */
  live(): string[] {
    return this.ids.filter((id) => this.isUp(id) && !this.isPaused(id));
  }

  /** The leader named in the highest term any live node reports, if it is live itself. */
  async leader(): Promise<string | undefined> {
    const all = await Promise.all(
      this.live().map((id) => ignoreRejection(this.status(id), NO_ANSWER)),
    );
    let best: Status | undefined;
    for (const s of all) if (s?.leader_id && (!best || s.term > best.term)) best = s;
    return best && this.live().includes(best.leader_id) ? best.leader_id : undefined;
  }

  /** Every live node knows the same live leader and where to forward to it. */
  async agreedLeader(): Promise<string | undefined> {
    const live = this.live();
    const all = await Promise.all(live.map((id) => ignoreRejection(this.status(id), NO_ANSWER)));
    const leader = all[0]?.leader_id;
    if (!leader || !live.includes(leader)) return undefined;
    const agree = all.every((s) => s?.leader_id === leader && s.leader_client_address !== '');
    return agree ? leader : undefined;
  }

  async awaitLeader(timeoutMs: number): Promise<string | undefined> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const l = await this.agreedLeader();
      if (l) return l;
      await new Promise((r) => setTimeout(r, 50));
    }
    return undefined;
  }

  /**
   * Polls every live node's Status and reports changes of term, role or leader, so that a
   * history shows who led when. Stops with stop().
   */
  watchRoles(report: (c: RoleChange) => void, everyMs = 200): void {
    const last = new Map<string, string>();
    let busy = false;
    this.roleTimer = setInterval(() => {
      if (busy) return;
      busy = true;
      void Promise.all(
        this.live().map(async (id) => {
          const s = await ignoreRejection(this.status(id, everyMs), NO_ANSWER);
          const key = s && `${s.term}/${s.role}/${s.leader_id}`;
          if (!s || key === last.get(id)) return;
          last.set(id, key!);
          report({
            at: performance.now(),
            node: id,
            term: s.term,
            role: s.role,
            leader: s.leader_id,
          });
        }),
      ).finally(() => (busy = false));
    }, everyMs);
  }

  /** Crashes and exits the harness did not cause, and the tail of every node's log. */
  diagnostics(): { unexpectedExits: string[]; logs: Record<string, string[]> } {
    const nodes = [...this.nodes.values()];
    return {
      unexpectedExits: nodes.flatMap((n) => n.unexpectedExits),
      logs: Object.fromEntries(nodes.map((n) => [n.id, n.log])),
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.roleTimer);
    await Promise.all(this.ids.map((id) => this.kill(id)));
    for (const a of this.apis.values()) a.close();
    this.apis.clear();
    await this.mesh.stop();
    rmSync(this.dir, { recursive: true, force: true });
    dataDirs.delete(this.dir);
  }
}
