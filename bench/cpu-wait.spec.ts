// The bench's measure of how long a member's event loop waited for a CPU.
import { spawn } from 'node:child_process';
import { CpuWaitWindow, runQueueWaitMs } from './cpu-wait.js';

describe('CpuWaitWindow', () => {
  it('reports the most wait within any window, and the wait in all', () => {
    const w = new CpuWaitWindow(300);
    // Waits of 10 ms every 100 ms, then 200 ms within 200 ms, then 10 ms steps again.
    const readings: [number, number][] = [
      [0, 0],
      [100, 10],
      [200, 20],
      [300, 30],
      [400, 130],
      [500, 230],
      [600, 240],
      [700, 250],
      [1100, 260],
    ];
    for (const [at, ms] of readings) w.add(at, ms);
    // 130 -> 240 (400..600) is 110; the most in 300 ms is 30 -> 240 (300..600) = 210.
    expect(w.worstMs).toBe(210);
    expect(w.totalMs).toBe(260);
  });

  it('forgets readings older than the window, and keeps counting past the pruning', () => {
    const w = new CpuWaitWindow(300);
    for (let i = 0; i <= 5000; i++) w.add(i * 10, i % 1000 === 0 ? i : i - (i % 1000));
    expect(w.totalMs).toBe(5000);
    // Each 1000 ms step lands in one reading: no window holds more than one.
    expect(w.worstMs).toBe(1000);
  });
});

describe('runQueueWaitMs', () => {
  const linux = process.platform === 'linux';

  it('reads a live process and grows while two busy processes share one CPU', async () => {
    expect(linux).toBe(true);
    // Both pinned to one CPU by taskset: each waits while the other runs.
    const busy = 'const end = Date.now() + 600; while (Date.now() < end);';
    const children = [0, 1].map(() =>
      spawn('taskset', ['-c', '0', process.execPath, '-e', busy], { stdio: 'ignore' }),
    );
    try {
      const pid = children[0]!.pid!;
      const before = runQueueWaitMs(pid);
      expect(before).toBeGreaterThanOrEqual(0);
      await Promise.all(children.map((c) => new Promise((r) => c.once('spawn', r))));
      let after = before!;
      const until = Date.now() + 5000;
      while (after - before! < 50 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
        after = runQueueWaitMs(pid) ?? after;
      }
      expect(after - before!).toBeGreaterThanOrEqual(50);
    } finally {
      for (const c of children) c.kill('SIGKILL');
      const exits = children
        .filter((c) => c.exitCode === null && c.signalCode === null)
        .map((c) => new Promise((r) => c.once('exit', r)));
      await Promise.all(exits);
    }
  });

  it('is undefined for a process that is not there', () => {
    expect(runQueueWaitMs(2 ** 22 + 1)).toBeUndefined();
  });
});
