// Starts kv-node processes on 127.0.0.1 with RocksDB in a temporary directory, for tests and
// the Raft benchmark. Every process it starts is killed by stop().
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { asError } from '../../../common/src/errors.js';

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => ok(port));
    });
  });
}

/**
 * Polls cond every 20 ms until it returns a truthy value; fails after timeoutMs with what.
 * A condition that throws is retried (a node may be down for a moment), but a failed expect()
 * inside it fails the wait at once: a later poll that passes must not hide it. On timeout the
 * last error thrown is in the message and is the cause.
 */
export async function waitFor<T>(
  what: string,
  cond: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastErr: unknown;
  while (performance.now() < deadline) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      if (isAssertionError(e)) throw e;
      lastErr = e;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(asError(lastErr))}` : ''}`,
    { cause: lastErr },
  );
}

/** Jest's expect() failures carry the matcher's result. */
function isAssertionError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && 'matcherResult' in e;
}

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
  proc: ChildProcess;
  controlPort: number;
}

/** The compiled kv-node: tests run after `npm run build` (npm test's pretest step). */
const KV_NODE = resolve(process.cwd(), 'dist/libs/raft/test/e2e/kv-node.js');

export class ProcessCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'quorumlock-raft-'));
  private readonly running = new Map<string, Running>();
  private peers = '';

  constructor(
    readonly ids: string[],
    private readonly extraArgs: string[] = [],
  ) {}

  async start(): Promise<void> {
    const ports = await Promise.all(this.ids.map(() => freePort()));
    this.peers = this.ids.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
    await Promise.all(this.ids.map((id) => this.startNode(id)));
  }

  async startNode(id: string): Promise<void> {
    const proc = spawn(
      process.execPath,
      [
        KV_NODE,
        '--id',
        id,
        '--peers',
        this.peers,
        '--data-dir',
        join(this.dir, id),
        ...this.extraArgs,
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const lines = createInterface({ input: proc.stdout });
    const controlPort = await new Promise<number>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`${id} did not start within 15 s`)), 15_000);
      proc.once('exit', (code) => fail(new Error(`${id} exited with ${code} before it was ready`)));
      lines.once('line', (line) => {
        clearTimeout(timer);
        ok((JSON.parse(line) as { controlPort: number }).controlPort);
      });
    });
    this.running.set(id, { proc, controlPort });
  }

  isUp(id: string): boolean {
    return this.running.has(id);
  }

  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    this.running.delete(id);
    if (r.proc.exitCode !== null || r.proc.signalCode !== null) return;
    await new Promise<void>((ok) => {
      r.proc.once('exit', () => ok());
      r.proc.kill(signal);
    });
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
    rmSync(this.dir, { recursive: true, force: true });
  }
}
