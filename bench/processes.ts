// Every server process the benchmark starts, and the temporary directories they write to. Each
// child leads its own process group, so that a Ctrl-C on the terminal reaches only the benchmark,
// which then stops the groups itself: nothing it started outlives it, also on errors and signals.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class ProcessGroup {
  private readonly children = new Set<ChildProcess>();
  private readonly dirs = new Set<string>();
  private handlersInstalled = false;

  /** A fresh directory under the system's temp dir, removed by cleanupSync(). */
  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.add(dir);
    return dir;
  }

  /**
   * Starts cmd in its own process group with stdout and stderr appended to logFile: a file, not
   * a pipe, so that a chatty server never blocks on a full pipe and costs the load generator no
   * CPU to drain.
   */
  spawn(cmd: string, args: string[], logFile: string): ChildProcess {
    const fd = openSync(logFile, 'a');
    try {
      const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
      this.children.add(child);
      child.once('exit', () => this.children.delete(child));
      child.once('error', () => this.children.delete(child));
      return child;
    } finally {
      closeSync(fd);
    }
  }

  /** Signals the child's whole group and waits for the child to exit (at most timeoutMs). */
  async stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 10_000) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
    signalGroup(child.pid, signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((ok) => (timer = setTimeout(() => ok(true), timeoutMs)));
    const tooLate = await Promise.race([exited.then(() => false), late]);
    clearTimeout(timer);
    // A graceful stop that hangs must not hang the benchmark.
    if (tooLate) {
      signalGroup(child.pid, 'SIGKILL');
      await exited;
    }
  }

  /** Synchronous, for exit and signal handlers: SIGKILL to every group, then the directories. */
  cleanupSync(): void {
    for (const child of this.children)
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    this.children.clear();
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    this.dirs.clear();
  }

  get running(): number {
    return this.children.size;
  }

  /**
   * Ctrl-C, SIGTERM, an uncaught error or any exit: stop everything. onInterrupt runs first (to
   * clear the progress line); a second Ctrl-C while cleaning up is ignored, not fatal.
   */
  installHandlers(onInterrupt: (signal: string) => void): void {
    if (this.handlersInstalled) return;
    this.handlersInstalled = true;
    let interrupted = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (interrupted) return;
      interrupted = true;
      onInterrupt(signal);
      this.cleanupSync();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
    process.on('exit', () => this.cleanupSync());
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Resident set size of a process in bytes, from /proc (Linux); 0 when it is not running. */
export function rssBytes(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The last lines of a log file, for error messages. */
export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Runs a command to completion; its output, or undefined when it cannot run or fails. */
export function runQuiet(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? `${r.stdout}${r.stderr}` : undefined;
}

/**
 * Debian's etcd-server is the etcd under test; installed on first use, so that a fresh machine
 * can run the benchmark, and said so, since apt-get changes the machine. Returns the version
 * line ("3.4.23").
 */
export function ensureEtcd(say: (line: string) => void): string {
  let out = runQuiet('etcd', ['--version']);
  if (out === undefined) {
    say('etcd not found: installing Debian’s etcd-server with apt-get (needs root)');
    const r = spawnSync('apt-get', ['install', '-y', 'etcd-server'], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status !== 0) throw new Error('apt-get install -y etcd-server failed');
    out = runQuiet('etcd', ['--version']);
    if (out === undefined) throw new Error('etcd is still not runnable after installing it');
  }
  return /etcd Version:\s*(\S+)/.exec(out)?.[1] ?? 'unknown';
}
