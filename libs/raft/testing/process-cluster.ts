// kv-node processes (a Raft node with a key-value state machine) on 127.0.0.1 with RocksDB in a
// temporary directory: the Raft engine on its own, for its real-process tests and the Raft
// benchmark, which is why it lives here and not in libs/raft/test. Processes, ports and waits
// are the shared test kit's (libs/testing); stop() stops every process and removes the directory.
import { join, resolve } from 'node:path';
import { freePort } from '../../testing/src/ports.js';
import { Child, removeTempDir, tempDir } from '../../testing/src/processes.js';

export interface NodeStatus {
  id: string;
  role: string;
  term: number;
  leader: string;
  commit: number;
  applied: number;
  counters: { snapshotsInstalled: number; snapshotsTaken: number; storageWrites: number };
}

interface Running {
  proc: Child;
  controlPort: number;
}

/** The compiled kv-node: tests run after `npm run build` (npm test's pretest step). */
const KV_NODE = resolve(process.cwd(), 'dist/libs/raft/testing/kv-node.js');

export class ProcessCluster {
  readonly dir = tempDir('quorumlock-raft-');
  private readonly running = new Map<string, Running>();
  private peers = '';

  constructor(
    readonly ids: string[],
    private readonly extraArgs: string[] = [],
  ) {}

  async start(): Promise<void> {
    const ports: number[] = [];
    for (const _ of this.ids) ports.push(await freePort());
    this.peers = this.ids.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
    await Promise.all(this.ids.map((id) => this.startNode(id)));
  }

  /** Starts node id (again, on its data directory) and waits until it says its control port. */
  async startNode(id: string): Promise<void> {
    const proc = new Child(
      id,
      process.execPath,
      [KV_NODE, '--id', id, '--peers', this.peers, '--data-dir', join(this.dir, id)].concat(
        this.extraArgs,
      ),
      { logFile: join(this.dir, `${id}.log`) },
    );
    const ready = await proc.waitFor(
      `${id} to say its control port`,
      () => /"controlPort":(\d+)/.exec(proc.output())?.[1],
    );
    this.running.set(id, { proc, controlPort: Number(ready) });
  }

  isUp(id: string): boolean {
    return this.running.has(id);
  }

  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    this.running.delete(id);
    await r.proc.stop(signal);
  }

  async call<T = Record<string, unknown>>(
    id: string,
    path: string,
    body?: object,
  ): Promise<{ status: number; body: T }> {
    const r = this.running.get(id);
    if (!r) throw new Error(`${id} is not running`);
    const res = await fetch(`http://127.0.0.1:${r.controlPort}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: body ? { 'content-type': 'application/json' } : undefined,
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as T };
  }

  async status(id: string): Promise<NodeStatus> {
    return (await this.call<NodeStatus>(id, '/status')).body;
  }

  /** The one leader all running nodes agree on, if any. */
  async leader(): Promise<string | undefined> {
    const up = [...this.running.keys()];
    const all = await Promise.all(up.map((id) => this.status(id)));
    const [l, ...more] = all.filter((s) => s.role === 'leader');
    if (l === undefined || more.length > 0) return undefined;
    return all.every((s) => s.leader === l.id && s.term === l.term) ? l.id : undefined;
  }

  async propose(id: string, k: string, v: string): Promise<number> {
    const r = await this.call<{ index?: number; error?: string }>(id, '/propose', { k, v });
    if (r.status !== 200) throw new Error(`propose on ${id}: ${r.status} ${r.body.error}`);
    return r.body.index!;
  }

  async dump(id: string): Promise<{ applied: number; map: Record<string, string> }> {
    return (await this.call<{ applied: number; map: Record<string, string> }>(id, '/dump')).body;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.kill(id)));
    removeTempDir(this.dir);
  }
}
