// Where a run's results go: bench/out/results.json always; BENCHMARKS.md (between the etcd-bench
// markers) and docs/bench-chart.svg unless --no-write. Prettier formats the Markdown so that
// `npm run lint` (prettier --check .) stays clean after a run.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as prettier from 'prettier';
import {
  busyShare,
  byCategory,
  byFile,
  byFunction,
  type CpuProfile,
  selfTime,
} from './cpu-profile.js';
import { type BenchResults, bestEtcd, renderSection, replaceSection } from './report.js';
import { type ChartRow, renderChart } from './svg-chart.js';

export const BENCHMARKS = 'BENCHMARKS.md';
export const CHART = 'docs/bench-chart.svg';
export const OUT = 'bench/out';

/** quorumlock against the better of etcd's paths on each row (see bestEtcd). */
export function chartRows(res: BenchResults): ChartRow[] {
  return res.throughput.map((t) => {
    const etcd = bestEtcd(t);
    return {
      label: t.label,
      values: {
        ...(t.quorumlock
          ? { quorumlock: { opsPerSec: t.quorumlock.opsPerSec, p99Ms: t.quorumlock.latency.p99 } }
          : {}),
        ...(Number.isFinite(etcd.opsPerSec)
          ? { etcd: { opsPerSec: etcd.opsPerSec, p99Ms: etcd.p99 } }
          : {}),
      },
    };
  });
}

export async function writeResults(res: BenchResults, o: { write: boolean }): Promise<string> {
  mkdirSync(OUT, { recursive: true });
  const json = await prettier.format(JSON.stringify(res), { parser: 'json' });
  writeFileSync(join(OUT, 'results.json'), json);
  const config = (await prettier.resolveConfig(BENCHMARKS)) ?? {};
  const md = await prettier.format(renderSection(res, CHART), { ...config, parser: 'markdown' });
  const section = md.trim();
  if (!o.write) return `${section}\n\n(--no-write: ${BENCHMARKS} and ${CHART} left alone)`;
  const old = existsSync(BENCHMARKS) ? readFileSync(BENCHMARKS, 'utf8') : '# Benchmarks\n';
  writeFileSync(BENCHMARKS, replaceSection(old, section, '## Against etcd'));
  const i = res.info;
  const subtitle = `${i.date}, ${i.cpu}, ${i.cores} cores, Node ${i.node}, etcd ${i.etcd}; each pair of bars is scaled to its larger value`;
  mkdirSync('docs', { recursive: true });
  writeFileSync(CHART, renderChart(chartRows(res), subtitle));
  return `${section}\n\nwrote ${BENCHMARKS} and ${CHART}`;
}

/** Top self time of every profile in dir, as text; also saved as bench/out/profile-summary.txt. */
export function summarizeProfiles(dir: string): string {
  const files = existsSync(dir)
    ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) =>
        f.endsWith('.cpuprofile'),
      )
    : [];
  const out: string[] = [];
  for (const f of files.sort()) {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile;
    const secs = (p.endTime - p.startTime) / 1e6;
    out.push(`## ${f}: ${secs.toFixed(0)} s, ${(100 * busyShare(p)).toFixed(0)}% of a core busy`);
    out.push('', 'self time by category:', '');
    for (const s of selfTime(p, byCategory, 16))
      out.push(`  ${s.pct.toFixed(1).padStart(5)}%  ${s.ms.toFixed(0).padStart(7)} ms  ${s.key}`);
    out.push('', 'self time by function:', '');
    for (const s of selfTime(p, byFunction, 20))
      out.push(`  ${s.pct.toFixed(1).padStart(5)}%  ${s.ms.toFixed(0).padStart(7)} ms  ${s.key}`);
    out.push('', 'self time by package or file:', '');
    for (const s of selfTime(p, byFile, 12))
      out.push(`  ${s.pct.toFixed(1).padStart(5)}%  ${s.ms.toFixed(0).padStart(7)} ms  ${s.key}`);
    out.push('');
  }
  const text = files.length ? out.join('\n') : `no profiles in ${dir}`;
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'profile-summary.txt'), `${text}\n`);
  return text;
}
