// Child processes of tests and benchmarks: their output, their stops (bounded, also when a
// graceful one hangs or the process is paused), and crashes told apart from stops.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Child, removeTempDir, runningChildren, tempDir } from '../src/processes.js';

/** Every child a test starts, stopped after it whatever happened. */
const started: Child[] = [];

/** A node process running script, logging to log. */
function node(name: string, script: string, log: string): Child {
  const c = new Child(name, process.execPath, ['-e', script], { logFile: log });
  started.push(c);
  return c;
}

/** Says it is ready (with its SIGTERM handler in place), then runs until stopped. */
const SERVER = `process.on('SIGTERM', () => process.exit(0)); console.log('ready'); setInterval(() => {}, 1000);`;

describe('Child', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('quorumlock-processes-spec-');
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((c) => c.stop()));
    removeTempDir(dir);
  });

  test('output() is what this run wrote, though the log file holds the earlier runs too', async () => {
    const log = join(dir, 'a.log');
    const first = node('a', `console.log('first run')`, log);
    await first.exited;
    const second = node('a', `console.log('second run'); console.error('on stderr')`, log);
    await second.exited;
    expect(second.output()).toBe('second run\non stderr\n');
    expect(first.output()).toContain('first run\nsecond run\n');
  });

  test('a stop is not a crash; an exit nobody asked for is', async () => {
    const stopped = node('stopped', SERVER, join(dir, 's.log'));
    await stopped.waitFor('it to be ready', () => stopped.output().includes('ready'));
    expect(runningChildren()).toBeGreaterThanOrEqual(1);
    await stopped.stop();
    expect(stopped.isUp()).toBe(false);
    expect(stopped.unexpectedExit).toBeUndefined();

    const crashed = node('crashed', `process.exit(3)`, join(dir, 'c.log'));
    await crashed.exited;
    expect(crashed.unexpectedExit).toBe('crashed exited with code 3');
  });

  test('waitFor gives up at once when the process exits, with its last output', async () => {
    const c = node('early', `console.log('bad config'); process.exit(2)`, join(dir, 'e.log'));
    // Not a timeout: the wait names the exit, which a wait that ran out its time would not.
    await expect(c.waitFor('it to serve', () => false, 600_000)).rejects.toThrow(
      'early exited with code 2 before it to serve; its last output:\nbad config',
    );
  });

  test('a graceful stop that hangs ends with SIGKILL after the grace period', async () => {
    const stubborn = node(
      'stubborn',
      `process.on('SIGTERM', () => console.log('ignored')); console.log('ready'); setInterval(() => {}, 1000);`,
      join(dir, 'h.log'),
    );
    await stubborn.waitFor('it to be ready', () => stubborn.output().includes('ready'));
    await stubborn.stop('SIGTERM', 300);
    expect(stubborn.proc.signalCode).toBe('SIGKILL');
    expect(stubborn.output()).toContain('ignored');
  });

  test('a paused process is resumed for a graceful stop, which it then handles', async () => {
    const p = node('paused', SERVER, join(dir, 'p.log'));
    await p.waitFor('it to be ready', () => p.output().includes('ready'));
    p.pause();
    expect(p.isPaused()).toBe(true);
    await p.stop('SIGTERM', 10_000);
    expect(p.proc.exitCode).toBe(0);
    expect(p.isPaused()).toBe(false);
  });

  test('removeTempDir removes the directory', () => {
    const d = tempDir('quorumlock-processes-spec-');
    expect(existsSync(d)).toBe(true);
    removeTempDir(d);
    expect(existsSync(d)).toBe(false);
  });
});
