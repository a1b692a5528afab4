// Server processes that tests and benchmarks start, and the temporary directories they write to.
// Each is registered here until it is stopped or removed, so that a run that ends without
// getting there (a test timeout tearing Jest down, an uncaught error) leaves nothing behind:
// whatever is left is killed and removed when this process exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GiveUp, TIMED_OUT, waitFor, within } from './wait.js';

const children = new Set<Child>();
const dirs = new Set<string>();
let exitHook = false;

/** The exit hook is only there while something is: Jest loads this module once per test file. */
function hookExit(): void {
  const needed = children.size + dirs.size > 0;
  if (needed === exitHook) return;
  exitHook = needed;
  if (needed) process.on('exit', cleanupSync);
  else process.off('exit', cleanupSync);
}

/** A fresh directory under the system's temp dir, removed by removeTempDir() or at exit. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  hookExit();
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
  hookExit();
}

/** SIGKILL to every child still running, then every temp dir: for exit and signal handlers. */
export function cleanupSync(): void {
  for (const c of children) c.signal('SIGKILL');
  children.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
  hookExit();
}

/** How many children are running. */
export function runningChildren(): number {
  return children.size;
}

export interface SpawnOptions {
  /**
   * stdout and stderr are appended to this file: a file, not a pipe, so that a chatty server
   * never blocks on a full pipe nor costs the parent CPU to drain, and its log outlives it.
   */
  logFile: string;
  /**
   * Its own process group, signalled as a whole: a Ctrl-C on the terminal then reaches only the
   * parent, which stops its children itself (the benchmark does, in order).
   */
  ownGroup?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** One child process: signals, pause and resume, a bounded stop, and its output. */
export class Child {
  readonly proc: ChildProcess;
  /** Settles when it has exited or failed to start. */
  readonly exited: Promise<void>;
  /** How it ended when nobody stopped it, once it has: a crash, for the caller to report. */
  unexpectedExit: string | undefined;
  private readonly logFrom: number;
  private ended = false;
  private stopping = false;
  private paused = false;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    private readonly o: SpawnOptions,
  ) {
    this.logFrom = sizeOf(o.logFile);
    const fd = openSync(o.logFile, 'a');
    try {
      this.proc = spawn(command, args, {
        detached: o.ownGroup ?? false,
        stdio: ['ignore', fd, fd],
        env: o.env,
      });
    } finally {
      closeSync(fd);
    }
    children.add(this);
    hookExit();
    this.exited = new Promise((ok) => {
      const end = (how: string) => {
        if (this.ended) return;
        this.ended = true;
        children.delete(this);
        hookExit();
        if (!this.stopping) this.unexpectedExit = `${name} ${how}`;
        ok();
      };
      this.proc.once('exit', (code, signal) =>
        end(signal ? `was killed by ${signal}` : `exited with code ${code}`),
      );
      this.proc.once('error', (e) => end(`could not start: ${e.message}`));
    });
  }

  isUp(): boolean {
    return !this.ended;
  }

  /** Its pid while it runs. */
  get pid(): number | undefined {
    return this.ended ? undefined : this.proc.pid;
  }

  isPaused(): boolean {
    return this.paused && !this.ended;
  }

  /** SIGSTOP: it runs no code until resume(), as if its machine had stalled. */
  pause(): void {
    if (this.ended || this.paused) return;
    this.signal('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (this.ended || !this.paused) return;
    this.signal('SIGCONT');
    this.paused = false;
  }

  /**
   * Sends signal (to its group, if it has one) and waits until it has exited; a stop that takes
   * longer than graceMs (a graceful one that hangs) ends with SIGKILL.
   */
  async stop(signal: NodeJS.Signals = 'SIGKILL', graceMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.ended) return;
    // A stopped process handles no signal but SIGKILL until it runs again.
    if (signal !== 'SIGKILL') this.resume();
    this.signal(signal);
    if ((await within(this.exited, graceMs)) === TIMED_OUT) {
      this.signal('SIGKILL');
      await this.exited;
    }
    this.paused = false;
  }

  signal(signal: NodeJS.Signals): void {
    const pid = this.proc.pid;
    if (this.ended || pid === undefined) return;
    try {
      if (this.o.ownGroup) process.kill(-pid, signal);
      else this.proc.kill(signal);
    } catch {
      // It is already gone: the exit event is on its way.
    }
  }

  /** What it has written since it started (its log file may hold earlier runs' output too). */
  output(): string {
    try {
      return readFileSync(this.o.logFile).subarray(this.logFrom).toString();
    } catch {
      return '';
    }
  }

  /** waitFor, given up at once if this process ends meanwhile: the error ends with its output. */
  waitFor<T>(
    what: string,
    cond: () => Promise<T | undefined | false> | T | undefined | false,
    timeoutMs?: number,
  ): Promise<T> {
    return waitFor(
      what,
      () => {
        if (this.ended) {
          const how = this.unexpectedExit ?? `${this.name} was stopped`;
          throw new GiveUp(`${how} before ${what}; its last output:\n${lastLines(this.output())}`);
        }
        return cond();
      },
      timeoutMs,
    );
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The last lines of a text (a process's output), for error messages. */
export function lastLines(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** The last lines of a log file; '' when there is none. */
export function tail(file: string, lines = 20): string {
  try {
    return lastLines(readFileSync(file, 'utf8'), lines);
  } catch {
    return '';
  }
}
