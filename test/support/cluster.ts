// The test kit's cluster: `quorumlock serve` processes on 127.0.0.1, as end-to-end tests, the
// chaos harness and the benchmark run them (hashicorp/raft's MakeCluster, for processes). Ports
// are picked free, data and logs go to a temporary directory, and stop() stops every process and
// removes the directory. The nodes run the command line `quorumlock dev` runs them with.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type LocalNode,
  peersFlag,
  serveArgs,
} from '../../apps/lock-service/src/cli/local-cluster.js';
import type { StatusResponse } from '../../apps/lock-service/src/domain/api.js';
import { asError } from '../../libs/common/src/errors.js';
import { ignoreRejection } from '../../libs/common/src/ignore.js';
import { freePort } from '../../libs/testing/src/ports.js';
import { Child, removeTempDir, tail, tempDir } from '../../libs/testing/src/processes.js';
import { GiveUp, waitFor } from '../../libs/testing/src/wait.js';
import { ApiClient } from './grpc-clients.js';

export type { LocalNode, StatusResponse };

/**
 * The built CLI (`npm run build` first; npm test's pretest does it). Jest runs this module from
 * source, test/support/cluster.ts; the benchmark runs its built copy, dist/test/support/cluster.js.
 */
export const QUORUMLOCK_BIN = fileURLToPath(
  new URL(
    `../../${import.meta.url.endsWith('.ts') ? 'dist/' : ''}apps/lock-service/src/cli/quorumlock.js`,
    import.meta.url,
  ),
);

/** A probe must see a restarted node at once, not after grpc-js's 1 s+ reconnect backoff. */
const PROBE_CHANNEL = {
  'grpc.initial_reconnect_backoff_ms': 20,
  'grpc.max_reconnect_backoff_ms': 100,
};

const NO_ANSWER = 'a node that does not answer has no say';

export interface ClusterOptions {
  /** Default n1, n2, n3. */
  ids?: readonly string[];
  /** `serve` flags every node gets after its addresses, e.g. ['--snapshot-entries', '50']. */
  flags?: readonly string[];
  /** Arguments to node itself, before the CLI script (the benchmark's --cpu-prof). */
  nodeArgs?: (id: string) => readonly string[];
  /** Every node in its own process group (the benchmark: see SpawnOptions). */
  ownGroups?: boolean;
  /** Where data and logs go; the caller's to remove. Default: a temp dir stop() removes. */
  dir?: string;
  /**
   * Agreement on a leader counts only the nodes that answer within 500 ms. The chaos harness
   * measures recovery from a fault by it, and a node just restarted or stalled must not hold that
   * up. Otherwise every live node must answer, and agree.
   */
  silentHaveNoSay?: boolean;
  /** What the kit's own calls (status, agreement on a leader) dial with; default plaintext. */
  credentials?: ChannelCredentials;
  /** Bearer token of the kit's own calls (Status, agreement on a leader): nodes with auth. */
  token?: string;
}

export class LocalCluster {
  /** The members, in order: the initial ones, then those joined, less those forgotten. */
  private members: string[];
  readonly dir: string;
  /** Nodes started with --join, and the members their --peers lists. */
  private readonly joinVia = new Map<string, readonly string[]>();
  private readonly commandLines = new Map<string, string[]>();
  private readonly nodes = new Map<string, LocalNode>();
  private readonly procs = new Map<string, Child>();
  private readonly apis = new Map<string, ApiClient>();
  private readonly exits: string[] = [];

  constructor(private readonly o: ClusterOptions = {}) {
    this.members = [...(o.ids ?? ['n1', 'n2', 'n3'])];
    this.dir = o.dir ?? tempDir('quorumlock-cluster-');
    mkdirSync(this.dir, { recursive: true });
  }

  /**
   * Starts every node and waits until they agree on a leader. A node that exits meanwhile fails
   * the start at once; a failed start names every node's last log lines.
   */
  async start(timeoutMs = 20_000): Promise<void> {
    await this.assignAddresses();
    for (const id of this.ids) this.startNode(id);
    try {
      await waitFor(
        'every node to know the leader',
        () => {
          if (this.exits.length > 0) throw new GiveUp(this.exits.join('; '));
          return this.agreedLeader();
        },
        timeoutMs,
      );
    } catch (e) {
      throw new Error(`${asError(e).message}\n${this.logTails(10)}`, { cause: e });
    }
  }

  get ids(): readonly string[] {
    return this.members;
  }

  /**
   * Starts a new node on a new, empty data dir with `serve --join`, its --peers listing `via`
   * (default: the current members). It waits to be added (ClusterService.AddMember); from now on
   * it is one of `ids`.
   */
  async join(id: string, via: readonly string[] = this.members): Promise<LocalNode> {
    if (this.nodes.has(id)) throw new Error(`${id} already exists`);
    this.joinVia.set(id, [...via]);
    this.members.push(id);
    await this.assignAddresses();
    this.startNode(id);
    return this.node(id);
  }

  /**
   * Stops counting node id as a member (it was removed from the cluster): it leaves `ids`, and
   * leader agreement no longer waits for it. A process still running is stopped by stop().
   */
  forget(id: string): void {
    this.members = this.members.filter((m) => m !== id);
  }

  /**
   * Picks every node's addresses without starting any, for a caller that writes their data dirs
   * first (a restore); start() then starts them there.
   */
  async prepare(): Promise<void> {
    await this.assignAddresses();
  }

  /** The --peers of the initial members: id=Raft address, comma-separated. */
  peers(): string {
    return peersFlag(this.ids.map((i) => this.node(i)));
  }

  /** Free ports for every node; start() picks them before it starts any. */
  protected async assignAddresses(): Promise<void> {
    for (const id of this.ids) {
      if (this.nodes.has(id)) continue;
      const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
      this.nodes.set(id, {
        id,
        client: `127.0.0.1:${client}`,
        peer: `127.0.0.1:${peer}`,
        http: `127.0.0.1:${metrics}`,
        dataDir: join(this.dir, id),
      });
    }
  }

  /** The --peers node id starts with: every node's own Raft address. */
  protected peersFor(id: string): string {
    return peersFlag((this.joinVia.get(id) ?? this.ids).map((i) => this.node(i)));
  }

  node(id: string): LocalNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id} (or the cluster has not started)`);
    return n;
  }

  /** Every node's client address, in the order of ids. */
  endpoints(): string[] {
    return this.ids.map((id) => this.node(id).client);
  }

  /**
   * Starts node id, again after a kill: on its data directory, its log continuing, with the
   * command line it had (as a supervisor restarts a process), even once removed. `once`: flags
   * for this start only (--force-new-cluster).
   */
  startNode(id: string, once: readonly string[] = []): void {
    if (this.isUp(id)) throw new Error(`${id} is running`);
    const flags = [...(this.o.flags ?? []), ...(this.joinVia.has(id) ? ['--join'] : [])];
    let args = this.commandLines.get(id);
    if (args === undefined) {
      args = serveArgs(this.node(id), this.peersFor(id), flags);
      this.commandLines.set(id, args);
    }
    const proc = new Child(
      id,
      process.execPath,
      [...(this.o.nodeArgs?.(id) ?? []), QUORUMLOCK_BIN, ...args, ...once],
      { logFile: this.logFile(id), ownGroup: this.o.ownGroups },
    );
    this.procs.set(id, proc);
    void proc.exited.then(() => {
      if (proc.unexpectedExit) this.exits.push(proc.unexpectedExit);
    });
  }

  isUp(id: string): boolean {
    return this.procs.get(id)?.isUp() ?? false;
  }

  isPaused(id: string): boolean {
    return this.procs.get(id)?.isPaused() ?? false;
  }

  /** The nodes that run and are not paused: the ones that can answer. */
  live(): string[] {
    return this.ids.filter((id) => this.isUp(id) && !this.isPaused(id));
  }

  pid(id: string): number | undefined {
    return this.procs.get(id)?.pid;
  }

  /** SIGSTOP. */
  pause(id: string): void {
    this.procs.get(id)?.pause();
  }

  /** SIGCONT. */
  resume(id: string): void {
    this.procs.get(id)?.resume();
  }

  /** Sends signal (kill -9 unless told) and waits until the node has exited. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.apis.get(id)?.close();
    this.apis.delete(id);
    await this.procs.get(id)?.stop(signal);
  }

  /** A client of node id's API, kept until the node is killed. */
  api(id: string): ApiClient {
    let a = this.apis.get(id);
    if (!a) {
      a = new ApiClient(this.node(id).client, PROBE_CHANNEL, this.o.token, this.o.credentials);
      this.apis.set(id, a);
    }
    return a;
  }

  async status(id: string, timeoutMs = 2000): Promise<StatusResponse> {
    return this.api(id).call<StatusResponse>(this.api(id).cluster, 'Status', {}, timeoutMs);
  }

  /** The leader every live node names and knows the client address of, if they agree on one. */
  async agreedLeader(): Promise<string | undefined> {
    const live = this.live();
    const all = await Promise.all(
      live.map((id) =>
        this.o.silentHaveNoSay ? ignoreRejection(this.status(id, 500), NO_ANSWER) : this.status(id),
      ),
    );
    const leader = all[0]?.leader_id;
    // A node killed a moment ago is still the leader its followers remember: not an answer.
    if (!leader || !live.includes(leader)) return undefined;
    const agreed = all.every((s) => s?.leader_id === leader && s.leader_client_address !== '');
    return agreed ? leader : undefined;
  }

  /** Waits until the live nodes agree on a leader (see agreedLeader). */
  leader(timeoutMs = 15_000): Promise<string> {
    return waitFor('a leader every live node agrees on', () => this.agreedLeader(), timeoutMs);
  }

  /** Node id's log: every run of it, appended. */
  logFile(id: string): string {
    return join(this.dir, `${id}.log`);
  }

  /** What node id has written since it was last started. */
  logs(id: string): string {
    return this.procs.get(id)?.output() ?? '';
  }

  /** The exits of nodes nobody stopped, in order: crashes. */
  unexpectedExits(): readonly string[] {
    return this.exits;
  }

  /** The last lines of every node's log, for failure messages. */
  logTails(lines: number): string {
    return this.ids.map((id) => `--- ${id} ---\n${tail(this.logFile(id), lines)}`).join('\n');
  }

  /**
   * Stops every node (kill -9 unless told) and removes the directory this cluster made. With
   * QUORUMLOCK_TEST_LOGS=dir, each node's log is kept there first, to diagnose a failed run.
   */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const all = [...this.nodes.keys()];
    await Promise.all(all.map((id) => this.kill(id, signal)));
    const keep = process.env.QUORUMLOCK_TEST_LOGS;
    if (keep) {
      mkdirSync(keep, { recursive: true });
      for (const id of all)
        if (existsSync(this.logFile(id)))
          copyFileSync(this.logFile(id), join(keep, `${basename(this.dir)}-${id}.log`));
    }
    if (this.o.dir === undefined) removeTempDir(this.dir);
  }
}
