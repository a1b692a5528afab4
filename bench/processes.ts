// The benchmark's servers run in their own process groups, so that a Ctrl-C on the terminal
// reaches only the benchmark; on Ctrl-C, SIGTERM or SIGHUP it stops every server it started and
// removes their directories itself (libs/testing keeps the list, and does the same at any exit).
// Also: process figures from /proc, and the etcd under test.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cleanupSync, runningChildren } from '../libs/testing/src/processes.js';

/**
 * onInterrupt runs first (to clear the progress line and say what is stopped); a second Ctrl-C
 * while cleaning up is ignored, not fatal.
 */
export function installHandlers(onInterrupt: (signal: string, running: number) => void): void {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    onInterrupt(signal, runningChildren());
    cleanupSync();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
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
