// The workloads, each against any BenchCluster: timed acquire+release loops, pipelined renewals,
// bulk lease creation, failover and recovery. Every loop ends by time or by count.
import { readFileSync } from 'node:fs';
import type {
  BenchCluster,
  DiskCounters,
  LeaseBackend,
  LockClient,
  RenewStream,
} from './adapters/types.js';
import { LatencyRecorder } from './stats.js';
import { ignoreRejection } from '../libs/common/src/ignore.js';
import { sleep, waitFor, within } from '../libs/testing/src/wait.js';

const now = () => performance.now();

export interface Timing {
  warmupS: number;
  seconds: number;
  /** Told the fraction done of this run, for the progress bar. */
  tick?: (fraction: number) => void;
  /** CPU seconds used so far by the servers under test, to charge the measured window. */
  serverCpu?: () => number;
  /** The leader's fsync/proposal/snapshot counters, likewise. */
  counters?: () => Promise<DiskCounters>;
}

export interface Measured {
  ops: number;
  errors: number;
  seconds: number;
  latency: LatencyRecorder;
  firstError?: string;
  /** CPU seconds in the measured window: every member summed, and this load generator. */
  serverCpuS: number;
  clientCpuS: number;
  /** Leader's counters over the measured window (NaN: not exported). */
  disk: DiskCounters;
}

const clientCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** CPU seconds of every running member of c, summed. */
export const clusterCpu = (c: BenchCluster) => () =>
  c.ids.reduce((sum, id) => sum + cpuSeconds(c.pid(id)), 0);

/**
 * Samples CPU use and the leader's disk counters at the start and end of the measured window:
 * on a 2-core machine shared by six servers and the client, the cost of an op (CPU, fsyncs)
 * decides throughput more than any single latency.
 */
function costWindow(t: Timing, m: Measured, startIn: number, endIn: number) {
  let s0 = 0;
  let c0 = 0;
  let d0: Promise<DiskCounters | undefined> = Promise.resolve(undefined);
  let d1: Promise<DiskCounters | undefined> | undefined;
  const counters = () =>
    t.counters
      ? ignoreRejection(t.counters(), 'without disk counters the cost is CPU only')
      : Promise.resolve(undefined);
  const end = () => {
    if (d1) return;
    d1 = counters();
    m.serverCpuS = (t.serverCpu?.() ?? 0) - s0;
    m.clientCpuS = clientCpu() - c0;
  };
  const a = setTimeout(() => {
    s0 = t.serverCpu?.() ?? 0;
    c0 = clientCpu();
    d0 = counters();
  }, startIn);
  const b = setTimeout(end, endIn);
  // The run may end before a busy event loop fires the timer: then it ends the window.
  return async () => {
    clearTimeout(a);
    clearTimeout(b);
    end();
    const [x, y] = await Promise.all([d0, d1]);
    for (const k of ['fsyncs', 'proposals', 'snapshots'] as const)
      m.disk[k] = x && y ? y[k] - x[k] : NaN;
  };
}

function newMeasured(seconds: number): Measured {
  return {
    ops: 0,
    errors: 0,
    seconds,
    latency: new LatencyRecorder(),
    serverCpuS: 0,
    clientCpuS: 0,
    disk: { fsyncs: NaN, proposals: NaN, snapshots: NaN },
  };
}

/**
 * Runs `workers` concurrent loops of op for warm-up + measured time. Only ops that start and end
 * inside the measured window count; errors count when they start inside it. A failing op backs
 * off 10 ms so that a system refusing everything is not spun on.
 */
export async function timedLoop(
  workers: number,
  t: Timing,
  op: (worker: number, i: number) => Promise<number>,
): Promise<Measured> {
  const start = now();
  const from = start + t.warmupS * 1000;
  const end = from + t.seconds * 1000;
  const m = newMeasured(t.seconds);
  const ticker = setInterval(() => t.tick?.((now() - start) / (end - start)), 250);
  const stopCost = costWindow(t, m, from - start, end - start);
  try {
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        for (let i = 0; now() < end; i++) {
          const began = now();
          try {
            const ms = await op(w, i);
            if (began >= from && now() <= end) {
              m.ops++;
              m.latency.add(ms);
            }
          } catch (e) {
            if (began >= from) m.errors++;
            m.firstError ??= String((e as Error)?.message ?? e).slice(0, 200);
            await sleep(10);
          }
        }
      }),
    );
  } finally {
    clearInterval(ticker);
    await stopCost();
  }
  return m;
}

/** acquire then release: the latency recorded is the acquire's. */
export function acquireRelease(client: LockClient, name: (w: number) => string, waitMs: number) {
  return async (w: number): Promise<number> => {
    const t0 = now();
    const held = await client.acquire(name(w), 10_000, waitMs);
    const ms = now() - t0;
    await held.release();
    return ms;
  };
}

/**
 * Renewals of `leaseIds` in turn over `streams` streams with `window` renewals in flight on each;
 * latency is send to reply. Both servers answer a stream's renewals one at a time, in order.
 */
export async function renewals(
  backend: LeaseBackend,
  leaseIds: string[],
  t: Timing,
  streams = 16,
  window = 4,
): Promise<Measured> {
  const start = now();
  const from = start + t.warmupS * 1000;
  const end = from + t.seconds * 1000;
  const m = newMeasured(t.seconds);
  const stopCost = costWindow(t, m, from - start, end - start);
  let cursor = 0;
  const opened: RenewStream[] = [];
  const done = Array.from({ length: streams }, async () => {
    const s = await backend.openRenewStream();
    opened.push(s);
    const sent: number[] = [];
    let head = 0;
    await new Promise<void>((finish) => {
      const send = () => {
        sent.push(now());
        s.send(leaseIds[cursor++ % leaseIds.length]!); // modulo the length
      };
      s.onReply((ok) => {
        const at = now();
        const t0 = sent[head++];
        if (t0 === undefined) throw new Error('a reply to a renewal that was never sent');
        if (t0 >= from && at <= end) {
          if (ok) {
            m.ops++;
            m.latency.add(at - t0);
          } else m.errors++;
        }
        if (at < end) send();
        else if (head === sent.length) finish();
      });
      s.onError((e) => {
        m.errors++;
        m.firstError ??= e.message.slice(0, 200);
        finish();
      });
      for (let i = 0; i < window; i++) send();
    });
  });
  const ticker = setInterval(() => t.tick?.((now() - start) / (end - start)), 250);
  // A stream whose replies stop must not hang the run: give up 5 s after the end.
  await within(Promise.all(done), end - start + 5000);
  clearInterval(ticker);
  await stopCost();
  for (const s of opened) s.close();
  return m;
}

export interface Created {
  ids: string[];
  /** Leases held now, those held before included. */
  reached: number;
  /** The next unused name: a failed grant's outcome is unknown, so its name is not reused. */
  nextName: number;
  seconds: number;
  errors: number;
  firstError?: string;
}

/**
 * Creates leases until `target` are held (`have` are already), at most `rate` per second with
 * `concurrency` in flight, until `deadline` (performance.now() time) or until nothing has
 * succeeded for 10 s: then the system is refusing, and how far it got is the answer. A failed
 * grant backs off 50 ms (a leader election is no reason to hammer the cluster).
 */
export async function createLeases(
  backend: LeaseBackend,
  o: {
    have: number;
    target: number;
    nameFrom: number;
    ttlMs: number;
    rate: number;
    concurrency: number;
    deadline: number;
    keepIds: boolean;
    prefix: string;
    tick?: (created: number) => void;
  },
): Promise<Created> {
  const start = now();
  const r: Created = { ids: [], reached: o.have, nextName: o.nameFrom, seconds: 0, errors: 0 };
  let inFlight = 0;
  let lastOk = start;
  const ticker = setInterval(() => o.tick?.(r.reached), 250);
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (r.reached + inFlight < o.target && now() < o.deadline && now() - lastOk < 10_000) {
        const k = r.nextName++;
        inFlight++;
        try {
          const due = start + ((k - o.nameFrom) * 1000) / o.rate;
          if (due > now()) await sleep(due - now());
          const id = await backend.grant(o.ttlMs, `${o.prefix}/${k}`);
          if (o.keepIds) r.ids.push(id);
          r.reached++;
          lastOk = now();
        } catch (e) {
          r.errors++;
          r.firstError ??= String((e as Error)?.message ?? e).slice(0, 200);
          await sleep(50);
        } finally {
          inFlight--;
        }
      }
    }),
  );
  clearInterval(ticker);
  r.seconds = (now() - start) / 1000;
  return r;
}

/**
 * kill -9 of the leader while one worker loops acquire+release; milliseconds from the kill to
 * the first successful acquire that started after it (NaN: none within boundMs). Releases are
 * not awaited, and every acquire takes a fresh lock, so that a release lost in the crash holds
 * up nothing. The killed member is started again and the cluster settled before returning.
 */
export async function failoverOnce(
  c: BenchCluster,
  rep: number,
  boundMs: number,
  callDeadlineMs?: number,
): Promise<number> {
  const leader = await c.leader();
  const client = c.lockClient({ callDeadlineMs });
  let killedAt = Infinity;
  let ok = 0;
  let first = NaN;
  let stop = false;
  let settled!: () => void;
  const firstAcquire = new Promise<void>((r) => (settled = r));
  const loop = (async () => {
    for (let i = 0; !stop; i++) {
      const began = now();
      try {
        const held = await client.acquire(`bench/failover/${rep}/${i}`, 5000, 0);
        ok++;
        void ignoreRejection(held.release(), 'a lock left over expires after its TTL');
        if (began >= killedAt && Number.isNaN(first)) {
          first = now() - killedAt;
          settled();
        }
      } catch {
        await sleep(5);
      }
    }
  })();
  try {
    await waitFor('the failover worker to run', () => ok >= 5, 10_000);
    killedAt = now();
    await c.kill(leader);
    await within(firstAcquire, boundMs);
  } finally {
    stop = true;
    await within(loop, 3000);
    await within(client.close(), 3000);
    c.startNode(leader);
  }
  await settle(c, leader);
  return first;
}

/** Waits for the member to serve and for every member to agree on a leader. */
export async function settle(c: BenchCluster, id: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(`${c.system} ${id} to serve`, () => c.serving(id), timeoutMs);
  await c.leader(timeoutMs);
}

/** Restarts a follower (kill -9, start): milliseconds from the start until it serves. */
export async function recoveryOnce(c: BenchCluster): Promise<{ ms: number; detail: string }> {
  const leader = await c.leader();
  const victim = c.ids.find((id) => id !== leader)!;
  await c.kill(victim);
  const t0 = now();
  const wall = Date.now();
  c.startNode(victim);
  await waitFor(`${c.system} ${victim} to serve again`, () => c.serving(victim), 120_000);
  const ms = now() - t0;
  await c.leader(30_000);
  return { ms, detail: c.startupSteps?.(victim, wall) ?? '' };
}

/** CPU time (user + system) of a process in seconds, from /proc; 0 when unreadable. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    const [, after = ''] = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ');
    const rest = after.split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return 0;
  }
}
