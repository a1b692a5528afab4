// The results of a run as the Markdown section of BENCHMARKS.md between its etcd-bench markers.
// Pure (no I/O), so that bench-helpers.spec.ts checks the tables.
import { type LatencySummary, median, ratio } from './stats.js';

export type Side = 'quorumlock' | 'etcd';
/** A row's systems: etcd's lock rows have etcd's own lock service (v3lock) as well. */
export type Contestant = Side | 'etcdV3lock';
const CONTESTANTS = ['quorumlock', 'etcd', 'etcdV3lock'] as const;
const NAMES: Record<Contestant, string> = {
  quorumlock: 'quorumlock',
  etcd: 'etcd (etcd3 client)',
  etcdV3lock: 'etcd (v3lock)',
};

export interface SideResult {
  opsPerSec: number;
  latency: LatencySummary;
  errors: number;
  /** CPU time per op in the measured window: all members summed, and the load generator. */
  serverCpuUsPerOp?: number;
  clientCpuUsPerOp?: number;
  /** The leader's WAL fsyncs and committed Raft proposals per op, snapshots in the window. */
  fsyncsPerOp?: number;
  proposalsPerOp?: number;
  snapshots?: number;
}

export interface ThroughputResult {
  key: string;
  label: string;
  /** What one op is, for the table: "acquire+release" or "renewal". */
  op: string;
  quorumlock?: SideResult;
  /** etcd through the etcd3 npm client (lock() on the lock rows). */
  etcd?: SideResult;
  /** etcd's own Lock service, v3lock (lock rows only). */
  etcdV3lock?: SideResult;
}

/** The better of etcd's paths on a row: the higher throughput, the lower p99 (NaN: none). */
export function bestEtcd(r: ThroughputResult): { opsPerSec: number; p99: number } {
  const xs = [r.etcd, r.etcdV3lock].filter((x): x is SideResult => x !== undefined);
  if (xs.length === 0) return { opsPerSec: NaN, p99: NaN };
  return {
    opsPerSec: Math.max(...xs.map((x) => x.opsPerSec)),
    p99: Math.min(...xs.map((x) => x.latency.p99)),
  };
}

export interface LeaseTarget {
  target: number;
  reached: number;
  seconds: number;
  /** RSS per member, MiB, in member order. */
  rssMiB: number[];
  /** CPU use per member while holding the leases and serving nothing, % of a core. */
  idleCpuPct?: number[];
  /** Calls that failed while growing (UNAVAILABLE after a leader change, for one). */
  errors?: number;
  firstError?: string;
  /** Longest event-loop stall per member while growing and holding, ms (NaN: not exported). */
  lagMaxMs?: number[];
  leaderChanges?: number;
  /** Per member: its main thread's most wait for a CPU within 300 ms (ms), and in all (s). */
  cpuWait?: { worstMs: number; totalS: number }[];
  /** A follower down for the last 30% of the growth: from its restart until it serves. */
  catchUpMs?: number;
  /** A member restarted holding this many leases: until it serves. */
  restartMs?: number;
}

export interface RunInfo {
  date: string;
  cpu: string;
  cores: number;
  memGiB: number;
  /** 1-minute load average when the run started: above the core count, others were busy. */
  loadAtStart?: number;
  node: string;
  etcd: string;
  seconds: number;
  warmup: number;
  rounds: number;
}

export interface BenchResults {
  info: RunInfo;
  throughput: ThroughputResult[];
  /** Milliseconds from kill -9 of the leader to the first acquire; NaN: none within the bound. */
  failover: Partial<Record<Side, number[]>> & {
    /** etcd again, its client given a 1 s deadline per call (etcd3 sets none by default). */
    etcdDeadline?: number[];
  };
  /** Milliseconds from restarting a member holding `leases` leases until it serves. */
  recovery: Partial<Record<Side, number>> & { leases?: number };
  leases: Partial<Record<Side, LeaseTarget[]>>;
}

export const START = '<!-- etcd-bench:start -->';
export const END = '<!-- etcd-bench:end -->';

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  return ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0);
}

export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–';
}

export function fmtRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}x` : '–';
}

/** A Markdown table; `right` marks the columns aligned right (numbers). */
export function markdownTable(header: string[], rows: string[][], right: boolean[] = []): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${header.map((_, i) => (right[i] ? '---:' : ':---')).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function throughputTable(rows: ThroughputResult[]): string {
  const out: string[][] = [];
  for (const r of rows) {
    const best = bestEtcd(r);
    for (const side of CONTESTANTS) {
      const s = r[side];
      if (!s) continue;
      const l = s.latency;
      const ours = side === 'quorumlock';
      out.push([
        ours ? r.label : '',
        NAMES[side],
        fmtInt(s.opsPerSec),
        fmtMs(l.p50),
        fmtMs(l.p90),
        fmtMs(l.p99),
        fmtMs(l.max),
        fmtInt(s.errors),
        ours ? fmtRatio(ratio(s.opsPerSec, best.opsPerSec)) : '',
        ours ? fmtRatio(ratio(l.p99, best.p99)) : '',
      ]);
    }
  }
  if (out.length === 0) return '';
  const header = ['workload', 'system', 'ops/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'];
  header.push('errors', 'ops/s ql/etcd', 'p99 ql/etcd');
  const right = header.map((_, i) => i >= 2);
  return markdownTable(header, out, right);
}

const fmtPer = (x?: number) => (x !== undefined && Number.isFinite(x) ? x.toFixed(2) : '–');

/** What each op cost: the evidence behind the throughput rows. */
function costTable(rows: ThroughputResult[]): string {
  const out: string[][] = [];
  for (const r of rows) {
    for (const side of CONTESTANTS) {
      const s = r[side];
      if (!s) continue;
      out.push([
        side === 'quorumlock' ? r.label : '',
        NAMES[side],
        fmtInt(s.serverCpuUsPerOp ?? NaN),
        fmtInt(s.clientCpuUsPerOp ?? NaN),
        fmtPer(s.fsyncsPerOp),
        fmtPer(s.proposalsPerOp),
        fmtInt(s.snapshots ?? NaN),
      ]);
    }
  }
  if (out.length === 0) return '';
  const header = ['workload', 'system', 'server CPU µs/op', 'client CPU µs/op'];
  header.push('leader fsyncs/op', 'proposals/op', 'snapshots');
  return markdownTable(
    header,
    out,
    header.map((_, i) => i >= 2),
  );
}

function timesTable(res: BenchResults): string {
  const f = res.failover;
  // A kill with no acquire within the bound counts as the worst case, not as a missing value.
  const times = (xs?: number[]) => (xs ?? []).map((x) => (isNaN(x) ? Infinity : x));
  const worst = (xs?: number[]) => (xs?.length ? Math.max(...times(xs)) : NaN);
  const med = (xs?: number[]) => median(times(xs));
  const reps = Math.max(f.quorumlock?.length ?? 0, f.etcd?.length ?? 0);
  const rows: [string, number, number][] = [];
  if (f.quorumlock?.length || f.etcd?.length) {
    rows.push([`failover: median of ${reps} kills`, med(f.quorumlock), med(f.etcd)]);
    rows.push(['failover: max', worst(f.quorumlock), worst(f.etcd)]);
  }
  if (f.etcdDeadline?.length) {
    const what = 'etcd3 with a 1 s call deadline';
    rows.push([`failover: median, ${what}`, med(f.quorumlock), med(f.etcdDeadline)]);
    rows.push([`failover: max, ${what}`, worst(f.quorumlock), worst(f.etcdDeadline)]);
  }
  const r = res.recovery;
  if (r.quorumlock !== undefined || r.etcd !== undefined) {
    const what = `recovery: restart with ${fmtInt(r.leases ?? NaN)} leases until serving`;
    rows.push([what, r.quorumlock ?? NaN, r.etcd ?? NaN]);
  }
  if (rows.length === 0) return '';
  const fmt = (ms: number) =>
    ms === Infinity ? 'none within the bound' : isNaN(ms) ? '–' : `${fmtMs(ms)} ms`;
  return markdownTable(
    ['measurement', 'quorumlock', 'etcd', 'ql/etcd'],
    rows.map(([m, a, b]) => [m, fmt(a), fmt(b), fmtRatio(ratio(a, b))]),
    [false, true, true, true],
  );
}

function leaseTable(res: BenchResults): string {
  const rows: string[][] = [];
  const targets = [
    ...new Set([...(res.leases.quorumlock ?? []), ...(res.leases.etcd ?? [])].map((t) => t.target)),
  ];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const target of targets.sort((a, b) => a - b)) {
    const ours = res.leases.quorumlock?.find((t) => t.target === target);
    const theirs = res.leases.etcd?.find((t) => t.target === target);
    for (const [side, t] of [
      ['quorumlock', ours],
      ['etcd', theirs],
    ] as const) {
      if (!t) continue;
      rows.push([
        side === 'quorumlock' ? fmtInt(target) : '',
        side,
        t.reached >= t.target ? fmtInt(t.reached) : `${fmtInt(t.reached)} (bound hit)`,
        `${t.seconds.toFixed(0)} s`,
        t.rssMiB.map((m) => m.toFixed(0)).join(' / '),
        t.idleCpuPct?.map((x) => x.toFixed(0)).join(' / ') ?? '–',
        side === 'quorumlock' && theirs ? fmtRatio(ratio(mean(t.rssMiB), mean(theirs.rssMiB))) : '',
      ]);
    }
  }
  if (rows.length === 0) return '';
  return markdownTable(
    ['active leases', 'system', 'reached', 'creation time', 'RSS per member, MiB'].concat(
      'idle CPU per member, %',
      'RSS ql/etcd',
    ),
    rows,
    [true, false, true, true, true, true, true],
  );
}

/** Whether the cluster stayed steady while it grew: what a lock service must keep doing as its state grows. */
function leaseStabilityTable(res: BenchResults): string {
  const rows: string[][] = [];
  const ms = (x: number | undefined) => (x === undefined ? '–' : `${fmtMs(x)} ms`);
  for (const side of ['quorumlock', 'etcd'] as const) {
    for (const t of res.leases[side] ?? []) {
      rows.push([
        fmtInt(t.target),
        side,
        String(t.leaderChanges ?? '–'),
        t.errors === undefined ? '–' : fmtInt(t.errors),
        t.lagMaxMs?.map((m) => (Number.isFinite(m) ? m.toFixed(0) : '–')).join(' / ') ?? '–',
        t.cpuWait?.map((w) => `${w.worstMs.toFixed(0)} (${w.totalS.toFixed(0)} s)`).join(' / ') ??
          '–',
        ms(t.catchUpMs),
        ms(t.restartMs),
      ]);
    }
  }
  if (rows.length === 0) return '';
  return markdownTable(
    ['active leases', 'system', 'leader changes', 'failed calls'].concat(
      'max event-loop lag per member, ms',
      'event loop waiting for a CPU: most in 300 ms, ms (in all)',
      'follower down for the last 30%: catch-up',
      'restart until serving',
    ),
    rows,
    [true, false, true, true, true, true, true, true],
  );
}

/** The generated part of BENCHMARKS.md, markers included. */
export function renderSection(res: BenchResults, chartPath: string): string {
  const i = res.info;
  return [
    START,
    '',
    `Run of \`npm run bench\` on ${i.date}: ${i.cpu}, ${i.cores} cores, ${i.memGiB} GiB, Node ${i.node},`,
    `etcd ${i.etcd} (Debian's etcd-server). Both clusters: 3 members on 127.0.0.1, data on disk,`,
    'default settings except addresses; the load generator is one separate Node process.',
    `Load average when the run started: ${i.loadAtStart?.toFixed(2) ?? '–'}.`,
    `Each throughput row: ${i.rounds} round(s) per system of ${i.warmup} s warm-up + ${i.seconds} s`,
    'measured, alternating quorumlock, etcd, quorumlock, etcd; latency is of the acquire',
    '(of the renewal on the renewals row). etcd runs each lock row twice: through the etcd3 npm',
    "client's lock() (one try: not on the contended row) and through etcd's own Lock service",
    '(v3lock, what `etcdctl lock` uses). Ratios are quorumlock/etcd against the better of the',
    'two: above 1 is better for ops/s, below 1 is better for latency, time and memory. The',
    'cost table: CPU time per op',
    'in the measured windows (all three members summed; the load generator), and the',
    "leader's WAL fsyncs and committed Raft proposals per op, from each server's /metrics.",
    '',
    ...[
      throughputTable(res.throughput),
      costTable(res.throughput),
      timesTable(res),
      leaseTable(res),
      leaseStabilityTable(res),
    ].flatMap((t) => (t ? [t, ''] : [])),
    `![throughput and p99 latency per workload, quorumlock and etcd](${chartPath})`,
    '',
    END,
  ].join('\n');
}

/** Replaces the marked section, or appends it under its own heading the first time. */
export function replaceSection(doc: string, section: string, heading: string): string {
  const at = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (at >= 0 && end > at) return doc.slice(0, at) + section + doc.slice(end + END.length);
  return `${doc.replace(/\s*$/, '')}\n\n${heading}\n\n${section}\n`;
}
