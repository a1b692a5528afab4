// One chaos run: a cluster, the workload, the fault schedule for the run's duration, then the
// checks. Every process and proxy it starts is stopped before it returns or throws. The history,
// fault log, node log tails and report go to one JSON file under test/chaos/out/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sleep } from '../../libs/testing/src/wait.js';
import { check, formatReport, type Report } from './checker/index.js';
import { type ClusterSettings, ChaosCluster, DEFAULT_SETTINGS } from './cluster.js';
import { FencedStore, Recorder, type RunMeta } from './history.js';
import { Nemesis } from './nemesis.js';
import { PausedClient } from './paused-client.js';
import { RecordedClient } from './recorded-client.js';
import { formatDuration, makeSchedule } from './schedule.js';
import { Workload } from './workload.js';

export const DEFAULT_OUT = resolve(process.cwd(), 'test/chaos/out');

export interface ChaosOptions {
  seed: number;
  durationMs: number;
  nodes: number;
  clients: number;
  outDir?: string;
  settings?: ClusterSettings;
  log?: (line: string) => void;
}

export interface ChaosResult {
  report: Report;
  file: string;
  replay: string;
  summary: string;
}

export function replayCommand(
  o: Pick<ChaosOptions, 'seed' | 'durationMs' | 'nodes' | 'clients'>,
): string {
  const d = formatDuration(o.durationMs);
  return `npm run test:chaos -- --seed ${o.seed} --duration ${d} --segment ${d} --nodes ${o.nodes} --clients ${o.clients}`;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const log = o.log ?? (() => undefined);
  const rec = new Recorder();
  const ids = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
  const settings = o.settings ?? DEFAULT_SETTINGS;
  const cluster = new ChaosCluster(ids, settings);
  const schedule = makeSchedule(o.seed, o.durationMs);
  const store = new FencedStore(rec);
  const replay = replayCommand(o);
  const startedAt = new Date().toISOString();
  let workload: Workload | undefined;
  let paused: PausedClient | undefined;
  let diagnostics: ReturnType<ChaosCluster['diagnostics']>;
  log(
    `chaos: seed ${o.seed}, ${o.nodes} nodes, ${o.clients} clients, ${formatDuration(o.durationMs)}; replay: ${replay}`,
  );
  try {
    await cluster.start();
    cluster.watchRoles((c) => rec.roles.push(c));
    const endpoints = cluster.endpoints();
    workload = new Workload(rec, store, { endpoints, clients: o.clients, seed: o.seed });
    paused = new PausedClient(rec, store, endpoints, new RecordedClient(rec, workload.sdk(), 'PR'));
    paused.start();
    workload.start();
    const nemesis = new Nemesis(cluster, rec, paused, log);
    await nemesis.run(schedule, rec.now() + o.durationMs);
    if (!(await nemesis.healAll()))
      rec.fail('recovery', 'no agreed leader 30 s after the final heal');
    // A moment on the healed cluster, so that the last fault's recovery is in the history.
    await sleep(2000);
  } finally {
    await workload
      ?.stop()
      .catch((e: unknown) => rec.fail('workload-error', `workload stop failed: ${String(e)}`));
    await paused
      ?.stop()
      .catch((e: unknown) => rec.fail('workload-error', `paused client stop failed: ${String(e)}`));
    diagnostics = cluster.diagnostics();
    await cluster.stop();
  }
  const meta: RunMeta = {
    seed: o.seed,
    nodes: o.nodes,
    clients: o.clients,
    durationMs: o.durationMs,
    electionTimeoutMaxMs: settings.electionTimeoutMaxMs,
    checkpointIntervalMs: settings.checkpointIntervalMs,
    startedAt,
    replay,
  };
  const history = rec.history(meta);
  const report = check(history);
  for (const exit of diagnostics.unexpectedExits) {
    report.violations.push({ property: 'node-crash', key: '', message: exit, ops: [] });
    report.totalViolations++;
    report.ok = false;
  }
  const dir = o.outDir ?? DEFAULT_OUT;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `chaos-${o.seed}-${o.nodes}n-${startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify({ meta, settings, schedule, report, nodeLogs: diagnostics.logs, history }),
  );
  const summary = [
    `seed ${o.seed} (${o.nodes} nodes, ${o.clients} clients, ${formatDuration(o.durationMs)}): ${report.ok ? 'PASS' : 'FAIL'}`,
    formatReport(report),
    `history: ${file}`,
    `replay: ${replay}`,
  ].join('\n');
  return { report, file, replay, summary };
}
