import { transformFileSync } from '@swc/core';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RocksDbStorage } from '../../src/storage/rocksdb-storage.js';
import { entryAt, snapshotAt } from './fixtures/crash-workload.js';
import { bytesOf } from './helpers.js';

// Tests run TypeScript through Jest's transform, but the child is a plain `node` process: give
// it a transpiled copy of the storage sources (and of libs/common, which they import), with a
// node_modules link so that its imports of rocksdb and @node-rs/crc32 resolve from the
// temporary directory.
const LIBS_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHILD_SOURCES = ['raft/src', 'raft/src/storage', 'raft/test/storage/fixtures', 'common/src'];
const WAIT_MS = 20_000;

function transpileChild(outDir: string): string {
  for (const sourceDir of CHILD_SOURCES) {
    mkdirSync(join(outDir, sourceDir), { recursive: true });
    for (const name of readdirSync(join(LIBS_ROOT, sourceDir))) {
      if (!name.endsWith('.ts')) continue;
      const { code } = transformFileSync(join(LIBS_ROOT, sourceDir, name), {
        swcrc: false,
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'es6' },
      });
      writeFileSync(join(outDir, sourceDir, name.replace(/\.ts$/, '.js')), code);
    }
  }
  writeFileSync(join(outDir, 'package.json'), '{ "type": "module" }\n');
  const rocksdbPackage = createRequire(import.meta.url).resolve('rocksdb/package.json');
  symlinkSync(dirname(dirname(rocksdbPackage)), join(outDir, 'node_modules'), 'dir');
  return join(outDir, 'raft/test/storage/fixtures/crash-writer.js');
}

/** A running crash-writer, with what it has reported so far. */
class Writer {
  ready: number | null = null;
  lastAcked = 0;
  acks = 0;
  lastSnapshot = 0;
  /** A snapshot save was under way (started, not acknowledged). */
  saving = false;
  firstAckAt = 0;
  stderr = '';
  /** Lines that break the protocol, checked by the test (throwing in a stream handler won't do). */
  readonly unexpected: string[] = [];
  closed = false;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiters = new Set<() => void>();

  constructor(script: string, dir: string) {
    // Without the parent's NODE_OPTIONS (Jest's --experimental-vm-modules).
    this.child = spawn(process.execPath, [script, dir, 'crash-node'], {
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    createInterface({ input: this.child.stdout }).on('line', (line) => this.onLine(line));
    // 'close', unlike 'exit', comes after the last stdout line has been read.
    this.child.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private onLine(line: string): void {
    const [word, value] = line.split(' ');
    const index = Number(value);
    if (word === 'ready') {
      this.ready = index;
    } else if (word === 'acked' && index > this.lastAcked) {
      if (this.acks++ === 0) this.firstAckAt = performance.now();
      this.lastAcked = index;
    } else if (word === 'saving') {
      this.saving = true;
    } else if (word === 'snapshot') {
      this.saving = false;
      this.lastSnapshot = index;
    } else {
      this.unexpected.push(line);
    }
    this.wake();
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Resolves once `condition` holds; fails on timeout or if the child goes away first. */
  until(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      const stop = (error?: Error): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = (): void => {
        if (condition()) stop();
        else if (this.closed) stop(new Error(`crash-writer ended before ${what}: ${this.stderr}`));
      };
      const timer = setTimeout(
        () => stop(new Error(`no ${what} within ${timeoutMs} ms; stderr: ${this.stderr}`)),
        timeoutMs,
      );
      this.waiters.add(check);
      check();
    });
  }

  async kill(): Promise<void> {
    if (!this.closed) this.child.kill('SIGKILL');
    await this.until(() => this.closed, 'exit after SIGKILL');
  }
}

describe('RocksDbStorage under SIGKILL', () => {
  let buildDir: string;
  let script: string;
  let dir: string;
  let writer: Writer | null = null;
  let storage: RocksDbStorage | null = null;

  beforeAll(() => {
    buildDir = mkdtempSync(join(tmpdir(), 'raft-crash-build-'));
    script = transpileChild(buildDir);
  });

  afterAll(() => rmSync(buildDir, { recursive: true, force: true }));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'raft-crash-db-'));
  });

  afterEach(async () => {
    await writer?.kill();
    writer = null;
    await storage?.close();
    storage = null;
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every acknowledged write, and nothing torn, across repeated kills', async () => {
    const rates: number[] = [];
    let recovered = 0;
    let killedMidSave = 0;
    for (let round = 0; round < 3; round++) {
      const w = (writer = new Writer(script, dir));
      await w.until(() => w.ready !== null, 'ready');
      // The restarted writer must find exactly what the previous check found.
      expect(w.ready).toBe(recovered);
      const target = 200 + 60 * round;
      await w.until(() => w.acks >= target, `${target} acks`);
      // After the first round, aim at a snapshot save (two chunks of 1 MiB and the batch that
      // stores them): the kill lands in it or just after.
      if (round > 0) await w.until(() => w.saving, 'a snapshot save');
      const seconds = (performance.now() - w.firstAckAt) / 1000;
      await w.kill();
      if (w.saving) killedMidSave++;
      rates.push(w.acks / seconds);
      expect(w.unexpected).toEqual([]);

      storage = await RocksDbStorage.open(dir, 'crash-node');
      const state = await storage.load();

      const snapshotIndex = state.snapshot?.meta.index ?? 0;
      const last = state.entries.at(-1)?.index ?? snapshotIndex;
      expect(last).toBeGreaterThanOrEqual(w.lastAcked);
      // Entries and hard state share a batch: an atomic write leaves them in step.
      expect(state.hardState).toEqual({
        term: entryAt(last).term,
        vote: 'crash-node',
        commit: last,
      });
      expect(snapshotIndex).toBeGreaterThanOrEqual(w.lastSnapshot);
      // Read to its end: every chunk there and matching the checksum of the whole.
      const stored = await bytesOf(state.snapshot);
      if (stored !== null) {
        const expected = snapshotAt(snapshotIndex);
        expect(stored.meta).toEqual(expected.meta);
        expect(Buffer.from(stored.data).equals(expected.data)).toBe(true);
      }
      expect(state.entries[0]?.index ?? snapshotIndex + 1).toBe(snapshotIndex + 1);
      await storage.close();
      storage = null;
      const wrong = state.entries.filter((e) => {
        const expected = entryAt(e.index);
        return e.term !== expected.term || !Buffer.from(e.data).equals(expected.data);
      });
      expect(wrong).toEqual([]);
      recovered = last;
      writer = null;
    }
    console.log(
      `crash test: ${rates.map((r) => r.toFixed(0)).join(', ')} synced batches/s ` +
        `(1-4 entries each) in 3 rounds, ${recovered} entries in the end; ` +
        `${killedMidSave} kills during a snapshot save`,
    );
  }, 90_000);
});
