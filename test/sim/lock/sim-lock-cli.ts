// npm run sim:lock -- --seeds N [--from S] [--nodes 3|5] [--stop-at-first]   many seeds
// npm run sim:lock -- --seed S --trace                     one seed, with a readable trace
import { runLockSeed } from './scenario.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const one = arg('seed');
  const trace = process.argv.includes('--trace');
  const stopAtFirst = process.argv.includes('--stop-at-first');
  const nodes = arg('nodes') === undefined ? undefined : (Number(arg('nodes')) as 3 | 5);
  const seeds = one !== undefined ? [Number(one)] : [];
  if (one === undefined) {
    const from = Number(arg('from') ?? 1);
    const n = Number(arg('seeds') ?? 100);
    for (let s = from; s < from + n; s++) seeds.push(s);
  }
  const started = performance.now();
  let failed = 0;
  let ran = 0;
  const totals: Record<string, number> = {};
  for (const seed of seeds) {
    ran++;
    try {
      const r = await runLockSeed({
        seed,
        nodes,
        trace: trace ? (l) => process.stdout.write(`${l}\n`) : undefined,
      });
      for (const [k, v] of Object.entries(r.report.examined)) totals[k] = (totals[k] ?? 0) + v;
      if (r.report.violations.length > 0) {
        failed++;
        console.log(`seed ${seed}: ${r.report.violations.length} violation(s)`);
        for (const v of r.report.violations.slice(0, 10))
          console.log(`  [${v.property}] ${v.detail}`);
        console.log(`  replay: npm run sim:lock -- --seed ${seed} --trace`);
        if (stopAtFirst) break;
      } else if (seeds.length === 1) {
        console.log(
          `seed ${seed}: ok, ${r.events} events, ${r.simMs.toFixed(0)} ms simulated, faults:`,
        );
        for (const f of r.faults) console.log(`  ${f}`);
        console.log(`  examined ${JSON.stringify(r.report.examined)}`);
      }
    } catch (e) {
      failed++;
      console.log(`seed ${seed}: ${(e as Error).stack ?? String(e)}`);
      console.log(`  replay: npm run sim:lock -- --seed ${seed} --trace`);
      if (stopAtFirst) break;
    }
  }
  const secs = (performance.now() - started) / 1000;
  console.log(
    `${ran - failed}/${ran} seeds passed in ${secs.toFixed(1)} s (${(ran / secs).toFixed(1)} seeds/s); examined ${JSON.stringify(totals)}`,
  );
  process.exitCode = failed > 0 ? 1 : 0;
}

void main();
