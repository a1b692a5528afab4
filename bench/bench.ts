// `npm run bench`: Quorum Lock against etcd, side by side on this machine. Starts a 3-node
// quorumlock cluster and a 3-member etcd cluster on 127.0.0.1, runs every workload against both
// from this process (the load generator), and writes the results into BENCHMARKS.md and
// docs/bench-chart.svg. Options: --help.
import { mkdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EtcdCluster } from './adapters/etcd.js';
import { QuorumLockCluster } from './adapters/quorumlock.js';
import type { BenchCluster } from './adapters/types.js';
import { ensureEtcd, installHandlers } from './processes.js';
import { leaseWorkload } from './lease-phase.js';
import { Progress } from './progress.js';
import type { BenchResults, Contestant, Side, SideResult } from './report.js';
import { fmtInt, fmtMs } from './report.js';
import { LatencyRecorder } from './stats.js';
import { startSelfProfile } from './self-profile.js';
import { summarizeProfiles, writeResults } from './write-results.js';
import * as w from './workloads.js';
import { ignoreRejection } from '../libs/common/src/ignore.js';
import { asError } from '../libs/common/src/errors.js';
import { cleanupSync, tail, tempDir } from '../libs/testing/src/processes.js';
import { sleep } from '../libs/testing/src/wait.js';

const HELP = `npm run bench [-- options]
  --seconds N          measured seconds per run (default 5)
  --warmup N           warm-up seconds before each run (default 1)
  --rounds N           runs per system of each throughput workload, alternating (default 2)
  --only a,b           workloads: ${['uncontended-1', 'uncontended-16', 'uncontended-64', 'contended-16', 'renewals', 'failover', 'leases'].join(', ')}
  --systems a,b        quorumlock, etcd (default both)
  --failover-reps N    kills of the leader per system (default 5)
  --million-seconds N  bound on growing to 1,000,000 leases, per system (default 120)
  --lease-targets a,b  leases held for recovery+memory, then for memory (default 100000,1000000)
  --budget N           seconds the whole run should fit in (default 570)
  --node-flags=F       extra Node/V8 flags for the quorumlock nodes, to compare heap settings
  --profile            run the quorumlock nodes under --cpu-prof; summaries in bench/out/
  --no-write           leave BENCHMARKS.md and docs/bench-chart.svg alone`;

const { values: a } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '2' },
    only: { type: 'string', default: '' },
    systems: { type: 'string', default: 'quorumlock,etcd' },
    'failover-reps': { type: 'string', default: '5' },
    'million-seconds': { type: 'string', default: '120' },
    'lease-targets': { type: 'string', default: '100000,1000000' },
    budget: { type: 'string', default: '570' },
    'node-flags': { type: 'string', default: '' },
    profile: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (a.help) {
  console.log(HELP);
  process.exit(0);
}

const timing = { seconds: Number(a.seconds), warmupS: Number(a.warmup) };
const rounds = Number(a.rounds);
const reps = Number(a['failover-reps']);
const millionS = Number(a['million-seconds']);
const leaseTargets = a['lease-targets'].split(',').map(Number);
const sides = a.systems.split(',').filter((s): s is Side => s === 'quorumlock' || s === 'etcd');
const runs = (key: string) => !a.only || a.only.split(',').includes(key);
const budgetEnd = performance.now() + Number(a.budget) * 1000;
const profileDir = resolve('bench/out/profiles');

const LOCKS = [
  { key: 'uncontended-1', label: 'uncontended, 1 worker', workers: 1, waitMs: 0 },
  { key: 'uncontended-16', label: 'uncontended, 16 workers', workers: 16, waitMs: 0 },
  { key: 'uncontended-64', label: 'uncontended, 64 workers', workers: 64, waitMs: 0 },
  { key: 'contended-16', label: 'contended, 16 workers, 1 lock', workers: 16, waitMs: 10_000 },
].filter((l) => runs(l.key));
const RENEW_LEASES = 10_000;
const WARM_UP_S = 10;
const run = (timing.warmupS + timing.seconds) * rounds * sides.length;
const progress = new Progress([
  ['starting clusters', 12],
  ...(LOCKS.length > 0 ? [['warming up', WARM_UP_S * sides.length] as [string, number]] : []),
  ...LOCKS.map((l): [string, number] => [l.key, run + 1]),
  ...(runs('renewals') ? [['renewals', run + 20] as [string, number]] : []),
  ...(runs('failover')
    ? [
        ['failover', reps * (sides.length + (sides.includes('etcd') ? 1 : 0)) * 6] as [
          string,
          number,
        ],
      ]
    : []),
  ...(runs('leases') ? [['leases', sides.length * (45 + millionS)] as [string, number]] : []),
  ['writing results', 5],
]);
const say = (line: string) => progress.log(line);

installHandlers((signal, running) => {
  progress.stop();
  console.error(`\n${signal}: stopping the ${running} processes this run started`);
});

const info = {
  date: new Date().toISOString().slice(0, 10),
  cpu: cpus()[0]?.model ?? 'unknown CPU',
  cores: cpus().length,
  memGiB: Math.round(totalmem() / 2 ** 30),
  loadAtStart: loadavg()[0],
  node: process.version,
  etcd: sides.includes('etcd') ? ensureEtcd(say) : '–',
  ...timing,
  warmup: timing.warmupS,
  rounds,
};
const results: BenchResults = { info, throughput: [], failover: {}, recovery: {}, leases: {} };
const dir = tempDir('quorumlock-bench-');
const clusters: Partial<Record<Side, BenchCluster>> = {};
if (a.profile) {
  rmSync(profileDir, { recursive: true, force: true });
  mkdirSync(profileDir, { recursive: true });
}
const stopSelfProfile = a.profile ? await startSelfProfile(join(profileDir, 'loadgen')) : undefined;
// One directory per node, so that each profile says whose it is.
const nodeFlags = a['node-flags'].split(' ').filter(Boolean);
const nodeArgs = (id: string) => [
  ...nodeFlags,
  ...(a.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, id)}`] : []),
];

function line(what: string, side: Contestant, m: w.Measured): string {
  const l = m.latency.summary();
  return (
    `${what.padEnd(30)} ${side.padEnd(11)} ${fmtInt(m.ops / m.seconds).padStart(8)} ops/s  ` +
    `p50 ${fmtMs(l.p50)}  p90 ${fmtMs(l.p90)}  p99 ${fmtMs(l.p99)}  max ${fmtMs(l.max)} ms  ` +
    `CPU/op ${fmtInt((1e6 * m.serverCpuS) / m.ops)}+${fmtInt((1e6 * m.clientCpuS) / m.ops)} µs  ` +
    `fsyncs/op ${(m.disk.fsyncs / m.ops).toFixed(2)} proposals/op ${(m.disk.proposals / m.ops).toFixed(2)}` +
    `  errors ${m.errors}${m.firstError ? ` (${m.firstError})` : ''}`
  );
}

function combine(ms: w.Measured[]): SideResult {
  const rec = new LatencyRecorder();
  for (const m of ms) rec.merge(m.latency);
  const secs = ms.reduce((s, m) => s + m.seconds, 0);
  const ops = ms.reduce((s, m) => s + m.ops, 0);
  return {
    opsPerSec: ops / secs,
    latency: rec.summary(),
    errors: ms.reduce((s, m) => s + m.errors, 0),
    serverCpuUsPerOp: (1e6 * ms.reduce((s, m) => s + m.serverCpuS, 0)) / ops,
    clientCpuUsPerOp: (1e6 * ms.reduce((s, m) => s + m.clientCpuS, 0)) / ops,
    fsyncsPerOp: ms.reduce((s, m) => s + m.disk.fsyncs, 0) / ops,
    proposalsPerOp: ms.reduce((s, m) => s + m.disk.proposals, 0) / ops,
    snapshots: ms.reduce((s, m) => s + m.disk.snapshots, 0),
  };
}

/** The counters of the member leading when the run starts. */
async function leaderCounters(c: BenchCluster) {
  const leader = await c.leader();
  return () => c.diskCounters(leader);
}

/** One system as a workload row shows it: etcd twice for locks, its npm client and v3lock. */
interface Contender {
  readonly key: Contestant;
  readonly side: Side;
  readonly flavor?: 'client' | 'v3lock';
}

/** Rounds alternate between the contenders so that drift on a shared machine hits all. */
async function alternate(
  key: string,
  contenders: readonly Contender[],
  once: (c: BenchCluster, who: Contender, round: number) => Promise<w.Measured>,
): Promise<Partial<Record<Contestant, SideResult>>> {
  const by: Partial<Record<Contestant, w.Measured[]>> = {};
  for (let r = 1; r <= rounds; r++) {
    for (const who of contenders) {
      progress.note(`${who.key}, round ${r} of ${rounds}`);
      const m = await once(clusters[who.side]!, who, r);
      (by[who.key] ??= []).push(m);
      say(line(`${key} r${r}`, who.key, m));
    }
  }
  const out: Partial<Record<Contestant, SideResult>> = {};
  for (const who of contenders) out[who.key] = combine(by[who.key]!);
  return out;
}

const bySide = (side: Side): Contender => ({ key: side, side });

/**
 * Fresh Node processes run a call several times slower until the JIT has compiled its path
 * (the first measured round of the first row was 35% slower than the second); etcd's Go does
 * not need this. Every system first serves a discarded round of 16 workers.
 */
async function warmUp(): Promise<void> {
  progress.phase('warming up');
  const t = { seconds: WARM_UP_S, warmupS: 0 };
  for (const side of sides) {
    progress.note(side);
    const client = clusters[side]!.lockClient({ flavor: side === 'etcd' ? 'v3lock' : undefined });
    try {
      await w.timedLoop(
        16,
        t,
        w.acquireRelease(client, (i) => `bench/warm/w${i}`, 0),
      );
    } finally {
      await client.close();
    }
  }
}

async function lockWorkloads(): Promise<void> {
  if (LOCKS.length > 0) await warmUp();
  for (const l of LOCKS) {
    progress.phase(l.key);
    // etcd3's lock() tries once: it has no row where locks are waited for.
    const contenders = sides.flatMap((side): Contender[] =>
      side === 'etcd'
        ? [
            ...(l.waitMs ? [] : [{ key: 'etcd', side, flavor: 'client' } as const]),
            { key: 'etcdV3lock', side, flavor: 'v3lock' },
          ]
        : [bySide(side)],
    );
    const res = await alternate(l.key, contenders, async (c, who, r) => {
      const client = c.lockClient({ flavor: who.flavor });
      const name = (i: number) =>
        l.waitMs ? `bench/contended/r${r}` : `bench/u${l.workers}/r${r}/w${i}`;
      try {
        const t = { ...timing, serverCpu: w.clusterCpu(c), counters: await leaderCounters(c) };
        return await w.timedLoop(l.workers, t, w.acquireRelease(client, name, l.waitMs));
      } finally {
        await client.close();
      }
    });
    results.throughput.push({ key: l.key, label: l.label, op: 'acquire+release', ...res });
  }
}

async function renewalWorkload(): Promise<void> {
  progress.phase('renewals', `creating ${fmtInt(RENEW_LEASES)} leases`);
  const held: Partial<
    Record<Side, { ids: string[]; backend: ReturnType<BenchCluster['leaseBackend']> }>
  > = {};
  for (const side of sides) {
    const c = clusters[side]!;
    const backend = c.leaseBackend(c.endpoint(await c.leader()));
    const made = await w.createLeases(backend, {
      ...{ have: 0, target: RENEW_LEASES, nameFrom: 0, ttlMs: 120_000, rate: 20_000 },
      concurrency: 64,
      ...{ deadline: performance.now() + 60_000, keepIds: true, prefix: 'bench/renew' },
    });
    if (made.ids.length < RENEW_LEASES)
      throw new Error(`${side}: only ${made.ids.length} leases: ${made.firstError}`);
    say(
      `${'renewals: created leases'.padEnd(30)} ${side.padEnd(10)} in ${made.seconds.toFixed(1)} s`,
    );
    held[side] = { ids: made.ids, backend };
  }
  // Leases live longer than Quorum Lock's lease checkpoint interval (5 s by default); a lease
  // whose remaining TTL is checkpointed renews through the log next time. Measure that state.
  progress.note('letting the leases age past one checkpoint interval');
  await sleep(6000);
  const res = await alternate('renewals', sides.map(bySide), async (c, { side }) =>
    w.renewals(held[side]!.backend, held[side]!.ids, {
      ...timing,
      serverCpu: w.clusterCpu(c),
      counters: await leaderCounters(c),
    }),
  );
  results.throughput.push({
    key: 'renewals',
    label: `renewals of ${fmtInt(RENEW_LEASES)} leases`,
    op: 'renewal',
    ...res,
  });
  progress.note('revoking the leases');
  for (const side of sides) {
    const { ids, backend } = held[side]!;
    const t0 = performance.now();
    const deadline = t0 + 30_000;
    await Promise.all(
      Array.from({ length: 64 }, async (_, k) => {
        for (let i = k; i < ids.length && performance.now() < deadline; i += 64)
          await ignoreRejection(backend.revoke(ids[i]!), 'a lease left over expires after its TTL');
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    say(`${'renewals: revoked leases'.padEnd(30)} ${side.padEnd(10)} in ${secs.toFixed(1)} s`);
    backend.close();
  }
}

async function failoverWorkload(): Promise<void> {
  progress.phase('failover');
  // etcd twice: as etcd3 comes (no call deadline), and with the 1 s deadline a user may add.
  type Variant = { side: Side; key: Side | 'etcdDeadline'; deadline?: number };
  const variants: Variant[] = sides.flatMap((side): Variant[] =>
    side === 'etcd'
      ? [
          { side, key: 'etcd' },
          { side, key: 'etcdDeadline', deadline: 1000 },
        ]
      : [{ side, key: side }],
  );
  for (let rep = 1; rep <= reps; rep++) {
    for (const v of variants) {
      const what = v.deadline ? `${v.side} (1 s call deadline)` : v.side;
      progress.note(`${what}, kill ${rep} of ${reps}`);
      const ms = await w.failoverOnce(clusters[v.side]!, rep, 15_000, v.deadline);
      (results.failover[v.key] ??= []).push(ms);
      say(`failover ${rep}/${reps}`.padEnd(31) + `${what} ${fmtMs(ms)} ms`);
    }
  }
}

let failed = false;
try {
  progress.phase('starting clusters');
  if (sides.includes('quorumlock'))
    clusters.quorumlock = new QuorumLockCluster(join(dir, 'quorumlock'), nodeArgs);
  if (sides.includes('etcd')) clusters.etcd = new EtcdCluster(join(dir, 'etcd'));
  await Promise.all(
    Object.values(clusters).map((c) => (c as QuorumLockCluster | EtcdCluster).start()),
  );
  await lockWorkloads();
  if (runs('renewals')) await renewalWorkload();
  if (runs('failover')) await failoverWorkload();
  if (runs('leases'))
    await leaseWorkload({
      clusters,
      sides,
      results,
      progress,
      say,
      budgetEnd,
      millionS,
      leaseTargets,
    });
} catch (e) {
  failed = true;
  progress.stop();
  const err = asError(e);
  console.error(`\nbenchmark failed: ${err.stack ?? err.message}`);
  for (const id of ['n1', 'n2', 'n3', 'e1', 'e2', 'e3'])
    console.error(
      `--- last lines of ${id} ---\n${tail(join(dir, id.startsWith('n') ? 'quorumlock' : 'etcd', `${id}.log`), 8)}`,
    );
} finally {
  progress.phase('writing results', 'stopping the clusters');
  // SIGTERM: a graceful stop lets node write its --cpu-prof profile.
  await Promise.all(Object.values(clusters).map((c) => c.stop(a.profile ? 'SIGTERM' : 'SIGKILL')));
  cleanupSync();
}
progress.stop();
if (!failed) console.log(await writeResults(results, { write: !a['no-write'] }));
if (stopSelfProfile) {
  await stopSelfProfile();
  console.log(summarizeProfiles(profileDir));
}
process.exit(failed ? 1 : 0);
