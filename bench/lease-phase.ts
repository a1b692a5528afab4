// The lease phases: grow each system to 100,000 leases (restart a member: recovery; RSS: memory),
// then towards 1,000,000 within a time bound, one system at a time.
import type { BenchCluster } from './adapters/types.js';
import type { Progress } from './progress.js';
import { HealthWatch } from './health-watch.js';
import { type BenchResults, fmtInt, fmtMs, type LeaseTarget, type Side } from './report.js';
import * as w from './workloads.js';
import { sleep, waitFor } from '../libs/testing/src/wait.js';

/**
 * Grows c's leases to `target` within boundS, in slices of at most 15 s that each start on the
 * current leader: a leader change mid-way must not leave every grant forwarded by a follower.
 */
async function grow(
  progress: Progress,
  c: BenchCluster,
  side: Side,
  have: number,
  nameFrom: number,
  target: number,
  boundS: number,
) {
  const deadline = performance.now() + Math.max(10, boundS) * 1000;
  const total = {
    reached: have,
    nextName: nameFrom,
    seconds: 0,
    errors: 0,
  };
  let firstError: string | undefined;
  for (
    let slice = 0;
    total.reached < target && performance.now() < deadline && slice < 1000;
    slice++
  ) {
    const leader = await c.leader(30_000);
    const backend = c.leaseBackend(c.endpoint(leader));
    try {
      const made = await w.createLeases(backend, {
        ...{ have: total.reached, target, nameFrom: total.nextName, ttlMs: 3_600_000 },
        ...{ rate: 20_000, concurrency: 256, keepIds: false, prefix: 'bench/lease' },
        deadline: Math.min(deadline, performance.now() + 15_000),
        tick: (n) => progress.note(`${side}: ${fmtInt(n)} of ${fmtInt(target)} leases`),
      });
      const before = total.reached;
      Object.assign(total, { reached: made.reached, nextName: made.nextName });
      total.seconds += made.seconds;
      total.errors += made.errors;
      firstError ??= made.firstError;
      // A whole slice without a lease: the system refuses (a limit, no quorum); that is the answer.
      if (made.reached === before) break;
    } finally {
      backend.close();
    }
  }
  return { ...total, firstError };
}

type Grown = Awaited<ReturnType<typeof grow>>;

export interface LeaseContext {
  clusters: Partial<Record<Side, BenchCluster>>;
  sides: Side[];
  results: BenchResults;
  progress: Progress;
  say: (line: string) => void;
  /** performance.now() by which the whole run should be done. */
  budgetEnd: number;
  millionS: number;
  leaseTargets: number[];
}

/** Lease phases run one system at a time: a cluster holding a million leases keeps working. */
export async function leaseWorkload(x: LeaseContext): Promise<void> {
  const { clusters, sides, results, progress, say, budgetEnd, millionS, leaseTargets } = x;
  progress.phase('leases');
  const order = [...sides].reverse();
  for (const [k, side] of order.entries()) {
    const c = clusters[side]!;
    const targets: LeaseTarget[] = (results.leases[side] = []);
    let have = { reached: 0, nextName: 0 };
    for (const [t, target] of leaseTargets.entries()) {
      const left = order.length - k; // systems still to run, this one included
      const share = (budgetEnd - performance.now() - 20_000) / 1000 / left;
      const boundS = Math.min(t > 0 ? millionS : 120, share);
      // The last target is reached with a follower down for its final 30%: the leader keeps
      // snapshotting and compacting without it, so that it comes back by snapshot.
      const last = t > 0 && t === leaseTargets.length - 1;
      const watch = new HealthWatch(c, side === 'quorumlock');
      const grown = await growWithFollowerDown(
        progress,
        c,
        side,
        have,
        target,
        boundS,
        last,
        watch,
      );
      have = grown.made;
      await sleep(2000);
      const rssMiB = c.ids.map((id) => c.rssBytes(id) / 2 ** 20);
      const cpu0 = c.ids.map((id) => w.cpuSeconds(c.pid(id)));
      await sleep(2000);
      const idleCpuPct = c.ids.map((id, i) => (100 * (w.cpuSeconds(c.pid(id)) - cpu0[i]!)) / 2);
      const health = await watch.stop();
      const row: LeaseTarget = {
        ...{ target, reached: have.reached, seconds: grown.made.seconds, rssMiB, idleCpuPct },
        ...{ errors: grown.made.errors, firstError: grown.made.firstError, ...health },
        catchUpMs: grown.catchUpMs,
      };
      say(
        `${fmtInt(target)} leases`.padEnd(31) +
          `${side.padEnd(10)} reached ${fmtInt(row.reached)} in ${row.seconds.toFixed(0)} s, ` +
          `RSS ${rssMiB.map((m) => m.toFixed(0)).join('/')} MiB, idle CPU ${idleCpuPct.map((x) => x.toFixed(0)).join('/')}%, ` +
          `lag max ${health.lagMaxMs.map((m) => m.toFixed(0)).join('/')} ms, ` +
          `leader changes ${health.leaderChanges}` +
          (health.cpuWait
            ? `, waiting for a CPU ${health.cpuWait.map((x) => `${x.worstMs.toFixed(0)} ms in 300 ms (${x.totalS.toFixed(0)} s)`).join('/')}`
            : '') +
          (grown.catchUpMs !== undefined
            ? `, follower caught up in ${fmtMs(grown.catchUpMs)} ms`
            : '') +
          `${row.errors ? `, ${row.errors} errors (${row.firstError})` : ''}`,
      );
      if (t === 0 || last) {
        progress.note(`${side}: restarting a member with ${fmtInt(have.reached)} leases`);
        const r = await w.recoveryOnce(c);
        row.restartMs = r.ms;
        if (t === 0) {
          results.recovery.leases = target;
          results.recovery[side] = r.ms;
        }
        say('recovery'.padEnd(31) + `${side.padEnd(10)} ${fmtMs(r.ms)} ms ${r.detail}`);
      }
      targets.push(row);
    }
    // Stop it now, so that the next system's lease phase does not share the CPU with it.
    if (k < order.length - 1) await c.stop();
  }
}

/**
 * Grows to target; with followerDown, kills a follower once 70% of the way there and, at the
 * target, starts it again and times it until it serves (it has caught up).
 */
async function growWithFollowerDown(
  progress: Progress,
  c: BenchCluster,
  side: Side,
  have: { reached: number; nextName: number },
  target: number,
  boundS: number,
  followerDown: boolean,
  watch: HealthWatch,
) {
  const started = performance.now();
  const add = (a: Grown, b: Grown): Grown => ({
    ...b,
    seconds: a.seconds + b.seconds,
    errors: a.errors + b.errors,
    firstError: a.firstError ?? b.firstError,
  });
  if (!followerDown) {
    const made = await grow(progress, c, side, have.reached, have.nextName, target, boundS);
    return { made, catchUpMs: undefined };
  }
  const mid = have.reached + Math.floor(0.7 * (target - have.reached));
  const first = await grow(progress, c, side, have.reached, have.nextName, mid, 0.7 * boundS);
  const leader = await c.leader(30_000);
  const down = c.ids.find((id) => id !== leader)!;
  progress.note(`${side}: ${down} down for the last 30%`);
  watch.restarting(down);
  await c.kill(down);
  const leftS = boundS - (performance.now() - started) / 1000;
  const second = await grow(progress, c, side, first.reached, first.nextName, target, leftS);
  progress.note(`${side}: ${down} back, catching up`);
  const t0 = performance.now();
  c.startNode(down);
  await waitFor(`${c.system} ${down} to catch up`, () => c.serving(down), 300_000);
  return { made: add(first, second), catchUpMs: performance.now() - t0 };
}
