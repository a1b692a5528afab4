// Runs every check on a history and summarizes: the violations (the run fails on any), figures,
// and what could not be decided (a linearizability search that ran out of budget).
import type { History } from '../history.js';
import { checkFloors, type Examined, emptyExamined, floorsFor } from './coverage.js';
import { checkObserve, checkWatch, type ObserveStats } from './elections.js';
import { buildGrants } from './grants.js';
import { checkKeyLinearizable, type LinOutcome } from './linearizability.js';
import {
  type Availability,
  availability,
  checkDeadLeases,
  checkRecovery,
  type DeadLeaseStats,
  summarize,
} from './liveness.js';
import { checkHandOvers, checkLockDelays, checkMutualExclusion } from './exclusion.js';
import {
  checkDurability,
  checkFencing,
  checkTokens,
  countOps,
  type LagStats,
  type Violation,
  Violations,
} from './safety.js';

export type { Violation };

export interface CheckOptions {
  /** Keys of dead-client leases, and of the one-candidate election. */
  deadPrefix: string;
  soloKey: string;
  /** Search steps per mutex for linearizability. */
  linBudget: number;
  /** The least each check must examine; default: floorsFor(history), by the run's length. */
  floors?: Examined;
}

export const DEFAULT_CHECK: CheckOptions = {
  deadPrefix: 'lock:dead/',
  soloKey: 'election:e/solo',
  linBudget: 5_000_000,
};

export interface Report {
  ok: boolean;
  violations: Violation[];
  totalViolations: number;
  /** How many items each check looked at, and the floor below which the run fails. */
  examined: Examined;
  floors: Examined;
  figures: {
    ops: Record<string, number>;
    grants: number;
    storeWrites: { accepted: number; rejected: number };
    clientPauses: { total: number; conclusive: number; lateWritesRejected: number };
    observe: ObserveStats;
    watchStreams: number;
    readsAfterNotFound: LagStats;
    deadLeases: DeadLeaseStats & { goneAfterFloor: string };
    faults: Record<string, number>;
  };
  linearizability: {
    checked: number;
    ok: number;
    gaveUp: string[];
    violations: LinOutcome[];
    /** The biggest mutex history searched, and the steps its search took. */
    largest: { key: string; ops: number; steps: number } | null;
  };
  availability: { perFault: Availability[]; byKind: Record<string, string> };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
};

export function check(h: History, o: CheckOptions = DEFAULT_CHECK): Report {
  const v = new Violations();
  const keys = buildGrants(h);
  const lin: LinOutcome[] = [];
  const lag: LagStats = { reads: 0, maxMs: 0 };
  const n = emptyExamined();
  for (const kh of keys.values()) {
    const compared = checkMutualExclusion(kh, v);
    n.grants += compared;
    const kinds = kh.grants.some((g) => g.delayMs > 0) || !kh.plain;
    if (kinds) n.kindGrants += compared;
    n.lockDelays += checkLockDelays(kh, v);
    const hand = checkHandOvers(kh, v);
    n.handOvers += hand.handOvers;
    n.waits += hand.waits;
    checkTokens(kh, v);
    const d = checkDurability(kh, v);
    n.reads += d.reads;
    n.leaseEnds += d.leaseEnds;
    lag.reads += d.afterNotFound.reads;
    lag.maxMs = Math.max(lag.maxMs, d.afterNotFound.maxMs);
    // The search's model is a mutex: shared locks and semaphores get the checks above.
    if (!kh.plain) continue;
    const r = checkKeyLinearizable(kh, o.linBudget);
    if (r.result !== 'gave-up') n.mutexes++;
    lin.push(r);
    if (r.result === 'violation')
      v.add(
        'linearizability',
        kh.key,
        `no linearization; smallest failing sub-history:\n  ${r.witness!.join('\n  ')}`,
      );
  }
  n.storeWrites = checkFencing(h, keys, v);
  const observe = checkObserve(h, keys, o.soloKey, v);
  n.observeStreams = observe.streams;
  n.observeLeaders = observe.leaderReports;
  n.observeNoLeader = observe.noLeaderReports;
  const watch = checkWatch(h, (key) => keys.get(key)?.plain !== false, v);
  n.watchStreams = watch.streams;
  n.watchEvents = watch.events;
  const dead = checkDeadLeases(h, keys, o.deadPrefix, v);
  n.deadLeases = dead.leases;
  n.faults = checkRecovery(h, v);
  for (const f of h.harness ?? []) v.add(f.property, '', `at ${f.at.toFixed(1)}: ${f.message}`);
  const avail = availability(h);
  const faults: Record<string, number> = {};
  for (const f of h.faults) faults[f.kind] = (faults[f.kind] ?? 0) + 1;
  const conclusive = h.pauses.filter((p) => p.lateWrite && p.probeToken !== null);
  n.clientPauses = conclusive.length;
  const floors = o.floors ?? floorsFor(h);
  checkFloors(n, floors, v);
  return {
    ok: v.total === 0,
    violations: v.list,
    totalViolations: v.total,
    examined: n,
    floors,
    figures: {
      ops: countOps(h.ops),
      grants: [...keys.values()].reduce((n, k) => n + k.grants.filter((g) => g.acked).length, 0),
      storeWrites: {
        accepted: h.writes.filter((w) => w.accepted).length,
        rejected: h.writes.filter((w) => !w.accepted).length,
      },
      clientPauses: {
        total: h.pauses.length,
        conclusive: conclusive.length,
        lateWritesRejected: conclusive.filter((p) => !p.lateWrite!.accepted).length,
      },
      observe,
      watchStreams: watch.streams,
      readsAfterNotFound: lag,
      deadLeases: {
        ...dead,
        goneAfterFloor: `median ${pct(dead.goneAfterFloorMs, 0.5)} ms, p99 ${pct(dead.goneAfterFloorMs, 0.99)} ms, max ${pct(dead.goneAfterFloorMs, 1)} ms`,
      },
      faults,
    },
    linearizability: {
      checked: lin.length,
      ok: lin.filter((r) => r.result === 'ok').length,
      gaveUp: lin.filter((r) => r.result === 'gave-up').map((r) => `${r.key} (${r.ops} ops)`),
      violations: lin.filter((r) => r.result === 'violation'),
      largest: lin.reduce<LinOutcome | null>((a, b) => (a && a.ops >= b.ops ? a : b), null),
    },
    availability: { perFault: avail, byKind: summarize(avail) },
  };
}

/** The report as the few lines a person reads first. */
export function formatReport(r: Report): string {
  const f = r.figures;
  const largest = r.linearizability.largest;
  const lines = [
    r.ok ? 'no violations' : `${r.totalViolations} violation(s):`,
    ...r.violations.map((x) => `  [${x.property}] ${x.key}: ${x.message}`),
    `ops: ${JSON.stringify(f.ops)}`,
    `grants ${f.grants}; store writes accepted ${f.storeWrites.accepted}, rejected ${f.storeWrites.rejected}`,
    `client pauses ${f.clientPauses.total} (conclusive ${f.clientPauses.conclusive}, late writes rejected ${f.clientPauses.lateWritesRejected})`,
    `observe: ${JSON.stringify(f.observe)}; watch streams ${f.watchStreams}`,
    `reads that saw a holder after its renewal got NOT_FOUND: ${f.readsAfterNotFound.reads} (up to ${f.readsAfterNotFound.maxMs} ms later)`,
    `dead leases ${f.deadLeases.leases} (bound asserted on ${f.deadLeases.asserted}, skipped ${f.deadLeases.skipped} under faults); gone after floor: ${f.deadLeases.goneAfterFloor}`,
    `linearizability: ${r.linearizability.ok}/${r.linearizability.checked} mutexes linearizable${r.linearizability.gaveUp.length ? `, search gave up on ${r.linearizability.gaveUp.join(', ')}` : ''}${largest ? ` (largest: ${largest.key}, ${largest.ops} ops, ${largest.steps} search steps)` : ''}`,
    `faults: ${JSON.stringify(f.faults)}`,
    ...Object.entries(r.availability.byKind).map(([k, s]) => `  ${k}: ${s}`),
    `examined (floor): ${Object.entries(r.examined)
      .map(([k, n]) => `${k} ${n} (${r.floors[k as keyof Examined]})`)
      .join(', ')}`,
  ];
  return lines.join('\n');
}

/** Figures summed over the segments of a long run (or several saved histories). */
export function formatTotals(reports: readonly Report[]): string {
  const sum = (f: (r: Report) => number) => reports.reduce((n, r) => n + f(r), 0);
  const add = (into: Record<string, number>, from: Record<string, number>) => {
    for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
    return into;
  };
  const ops = reports.reduce((a, r) => add(a, r.figures.ops), {});
  const faults = reports.reduce((a, r) => add(a, r.figures.faults), {});
  const gone = reports.flatMap((r) => r.figures.deadLeases.goneAfterFloorMs);
  const lin = reports.map((r) => r.linearizability);
  return [
    `${reports.length} segment(s), ${sum((r) => r.totalViolations)} violation(s)`,
    `ops: ${JSON.stringify(ops)}`,
    `grants ${sum((r) => r.figures.grants)}; store writes accepted ${sum((r) => r.figures.storeWrites.accepted)}, rejected ${sum((r) => r.figures.storeWrites.rejected)}`,
    `client pauses ${sum((r) => r.figures.clientPauses.total)} (conclusive ${sum((r) => r.figures.clientPauses.conclusive)}, late writes rejected ${sum((r) => r.figures.clientPauses.lateWritesRejected)})`,
    `observe streams ${sum((r) => r.figures.observe.streams)}, leader reports ${sum((r) => r.figures.observe.leaderReports)}, no-leader reports ${sum((r) => r.figures.observe.noLeaderReports)}`,
    `dead leases ${sum((r) => r.figures.deadLeases.leases)} (bound asserted on ${sum((r) => r.figures.deadLeases.asserted)}); gone after floor: median ${pct(gone, 0.5)} ms, p99 ${pct(gone, 0.99)} ms, max ${pct(gone, 1)} ms`,
    `linearizability: ${sum((r) => r.linearizability.ok)}/${sum((r) => r.linearizability.checked)} mutexes, ${lin.reduce((n, l) => n + l.gaveUp.length, 0)} searches gave up, largest ${Math.max(...lin.map((l) => l.largest?.ops ?? 0))} ops`,
    `faults: ${JSON.stringify(faults)}`,
    ...Object.entries(summarize(reports.flatMap((r) => r.availability.perFault))).map(
      ([k, v]) => `  ${k}: ${v}`,
    ),
    // Reports saved before the checks counted what they examined have no figures for it.
    `examined: ${JSON.stringify(reports.reduce((a, r) => add(a, r.examined ?? {}), {}))}`,
  ].join('\n');
}
