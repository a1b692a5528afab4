// The client-pause fault: a client process takes a lock and is SIGSTOPped for longer than its
// TTL; meanwhile a probe client takes the lock (after the lease expired) and writes with its newer
// token; on SIGCONT the paused client's pending write reaches the fenced store, which must refuse
// it. The paused client's validity is measured like any other (from its recorded send times).
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { status } from '@grpc/grpc-js';
import type { FromChild, ToChild } from './client-proc.js';
import type { ClientPause, FencedStore, Recorder } from './history.js';
import { type RecordedClient, lockKey } from './recorded-client.js';
import { sleep, TIMED_OUT, within } from '../../libs/testing/src/wait.js';

/** The child reports a plain number (-1 for a failure that is not a gRPC status). */
const ABORTED: number = status.ABORTED;

const CLIENT_PROC = resolve(process.cwd(), 'dist/test/chaos/client-proc.js');
const NAME = 'PC';
const TTL_MS = 1000;
const WRITE_AFTER_MS = 300;

export class PausedClient {
  private proc: ChildProcess | null = null;
  private readonly pending = new Map<number, (m: FromChild) => void>();
  private onWrite: ((m: { token: number; at: number }) => void) | null = null;
  private nextId = 1;
  private paused = false;
  private n = 0;
  /** The lock of the scenario in progress: where the child's own releases are recorded. */
  private key = '';

  constructor(
    private readonly rec: Recorder,
    private readonly store: FencedStore,
    private readonly endpoints: readonly string[],
    private readonly probe: RecordedClient,
  ) {}

  start(): void {
    const proc = spawn(process.execPath, [CLIENT_PROC, JSON.stringify(this.endpoints)], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    proc.on('message', (m: FromChild) => {
      if (m.type === 'write') this.onWrite?.({ token: m.token, at: this.rec.now() });
      else if (m.type === 'releasing') this.noteRelease(m.id, m.lease);
      else this.pending.get(m.id)?.(m);
    });
    this.proc = proc;
  }

  /** The child's SDK sends this release once told it is recorded: at or after this time. */
  private noteRelease(id: number, lease: string): void {
    const op = this.rec.begin({ client: NAME, kind: 'release', key: this.key, lease, note: 'sdk' });
    this.rec.end(op, 'unknown');
    if (this.alive) this.proc!.send({ type: 'noted', id } satisfies ToChild);
  }

  private get alive(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private request(m: ToChild & { id: number }, timeoutMs: number): Promise<FromChild | null> {
    return new Promise((done) => {
      const timer = setTimeout(() => {
        this.pending.delete(m.id);
        done(null);
      }, timeoutMs);
      this.pending.set(m.id, (reply) => {
        clearTimeout(timer);
        this.pending.delete(m.id);
        done(reply);
      });
      this.proc!.send(m);
    });
  }

  /** One pause of pauseMs (longer than the TTL), recorded in rec.pauses. */
  async scenario(pauseMs: number): Promise<ClientPause | null> {
    if (!this.alive) return null;
    const name = `pause/${++this.n}`;
    const key = lockKey(name);
    this.key = key;
    const owner = `${NAME}.${this.n}`;
    const record: ClientPause = {
      key,
      token: null,
      paused: null,
      resumed: null,
      probeToken: null,
      lateWrite: null,
    };
    this.rec.pauses.push(record);
    const late = new Promise<{ token: number; at: number }>((r) => (this.onWrite = r));
    const op = this.rec.begin({
      client: NAME,
      kind: 'acquire',
      key,
      owner,
      ttlMs: TTL_MS,
      waitMs: 2000,
    });
    const id = this.nextId++;
    const ask: ToChild = {
      type: 'acquire',
      id,
      name,
      owner,
      ttlMs: TTL_MS,
      writeAfterMs: WRITE_AFTER_MS,
    };
    const m = await this.request(ask, 12_000);
    const answered = this.rec.now();
    if (m?.type !== 'granted') {
      const definite = m?.type === 'refused' && m.code === ABORTED;
      this.rec.end(op, definite ? 'ok' : 'unknown', { granted: definite ? false : undefined });
      return record;
    }
    // Only a client that believes it holds the lock decides to write: pause it before it acts.
    if (m.validForMs > 0) this.pause();
    record.paused = this.paused ? this.rec.now() : null;
    const grant = { granted: true, token: m.token, lease: m.lease, ttlMs: m.ttlMs };
    this.rec.end(op, 'ok', grant, answered);
    record.token = m.token;
    record.validForMs = m.validForMs;
    if (!this.paused) {
      this.onWrite = null;
      await this.release(key, m.lease);
      return record;
    }
    const pausedAt = record.paused!;
    try {
      // The probe is granted once the paused client's lease expired, and writes a newer token.
      const h = await this.probe.acquire(name, {
        ttlMs: 2000,
        waitMs: Math.max(500, pauseMs - 500),
      });
      if (h?.valid && this.store.write(key, h.token, this.probe.name)) record.probeToken = h.token;
      await h?.release();
      await sleep(pausedAt + pauseMs - this.rec.now());
    } finally {
      this.resume();
    }
    record.resumed = this.rec.now();
    // On waking, the SDK finds the lease past due and releases it on its own (recorded as it
    // asks to send it), and the write it decided on before the pause arrives.
    const w = await within(late, 5000);
    this.onWrite = null;
    if (w !== TIMED_OUT) {
      const accepted = this.store.write(key, w.token, NAME, true);
      record.lateWrite = { at: w.at, accepted };
    }
    await this.release(key, m.lease);
    return record;
  }

  private async release(key: string, lease: string): Promise<void> {
    const rel = this.rec.begin({ client: NAME, kind: 'release', key, lease });
    const r = await this.request({ type: 'release', id: this.nextId++ }, 10_000);
    const released = r?.type === 'released' ? r.released : null;
    this.rec.end(rel, released === true ? 'ok' : 'unknown', { released: released ?? undefined });
  }

  private pause(): void {
    if (this.alive && !this.paused) this.proc!.kill('SIGSTOP');
    this.paused = true;
  }

  private resume(): void {
    if (this.alive && this.paused) this.proc!.kill('SIGCONT');
    this.paused = false;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || !this.alive) return;
    this.resume();
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.send({ type: 'close' } satisfies ToChild);
    await within(exited, 3000);
    if (this.alive) {
      p.kill('SIGKILL');
      await exited;
    }
  }
}
