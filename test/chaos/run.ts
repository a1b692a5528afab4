// npm run test:chaos -- [--duration 30m] [--seed S] [--nodes 3,5] [--clients 20] [--segment 5m]
// npm run test:chaos -- --check test/chaos/out/<run>.json   (re-checks a saved history)
// Long runs are cut into segments, each on a fresh cluster (alternating sizes unless --nodes
// names one) with a seed derived from --seed; every segment prints the command that replays it
// alone. Exit code 1 on any violation, 2 if the harness itself failed.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { check, formatReport, formatTotals, type Report } from './checker/index.js';
import type { History } from './history.js';
import { runChaos } from './runner.js';
import { formatDuration, parseDuration } from './schedule.js';

/** The seed of segment i: segment 0 uses the run's seed, so a one-segment run replays exactly. */
function segmentSeed(seed: number, i: number): number {
  return i === 0 ? seed : (seed + Math.imul(i, 0x9e3779b1)) >>> 0;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '3m' },
      seed: { type: 'string' },
      nodes: { type: 'string', default: '3,5' },
      clients: { type: 'string', default: '20' },
      segment: { type: 'string', default: '5m' },
      out: { type: 'string' },
      check: { type: 'string' },
    },
  });
  if (values.check !== undefined) {
    const reports = values.check.split(',').map((file) => {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { history: History };
      const report = check(saved.history);
      console.log(`${file}\n${formatReport(report)}\nreplay: ${saved.history.meta.replay}\n`);
      return report;
    });
    if (reports.length > 1) console.log(`=== total\n${formatTotals(reports)}`);
    return reports.every((r) => r.ok) ? 0 : 1;
  }
  const durationMs = parseDuration(values.duration);
  const segmentMs = parseDuration(values.segment);
  const seed =
    values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  const sizes = values.nodes.split(',').map(Number);
  const clients = Number(values.clients);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer`);
  if (sizes.some((n) => n !== 3 && n !== 5)) throw new Error('--nodes takes 3, 5 or 3,5');
  if (!Number.isInteger(clients) || clients < 9 || clients > 50)
    throw new Error('--clients must be 9-50');
  const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 23)} ${line}`);
  log(
    `chaos run: seed ${seed}, ${formatDuration(durationMs)} in segments of ${formatDuration(segmentMs)}`,
  );
  const failed: string[] = [];
  const reports: Report[] = [];
  let i = 0;
  for (let done = 0; done < durationMs; done += segmentMs, i++) {
    const r = await runChaos({
      seed: segmentSeed(seed, i),
      durationMs: Math.min(segmentMs, durationMs - done),
      nodes: sizes[i % sizes.length]!, // modulo the length
      clients,
      outDir: values.out,
      log,
    });
    console.log(`\n=== segment ${i + 1}\n${r.summary}\n`);
    reports.push(r.report);
    if (!r.report.ok) failed.push(`segment ${i + 1}: ${r.file}\n  replay: ${r.replay}`);
  }
  if (reports.length > 1) console.log(`=== total\n${formatTotals(reports)}\n`);
  console.log(
    failed.length
      ? `FAIL (seed ${seed}):\n${failed.join('\n')}`
      : `PASS: seed ${seed}, ${i} segment(s), no violations`,
  );
  return failed.length ? 1 : 0;
}

// Interrupted: exit normally, so that the exit hook kills every server process it started.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(2);
  },
);
