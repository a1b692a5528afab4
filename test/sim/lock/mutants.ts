// npm run sim:mutants -- [--only name,name] [--seeds 2000] [--control]
// Proves the whole-service simulator finds lock-layer bugs: each file in test/sim/mutants/ is a
// small diff against the server sources that plants one bug, with a header saying what it plants
// (so that it can be re-created when the code moves). For each, a scratch copy of this working
// tree gets the patch, is built, and runs simulation seeds until one fails; the first failing
// seed and what fired are printed, then a table. --control first runs the same seeds unpatched,
// which must all pass. Not in CI: a few minutes.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { copyTree, patchAndBuild, removeTree } from '../../support/scratch-copy.js';

const ROOT = process.cwd();
const PATCHES = resolve(ROOT, 'test/sim/mutants');

interface Outcome {
  mutant: string;
  result: 'caught' | 'missed' | 'passed' | 'broken';
  seed?: number;
  fired: string[];
  detail: string;
  seconds: number;
}

function simulate(dir: string, seeds: number): { out: string; code: number } {
  const args = ['dist/test/sim/lock/sim-lock-cli.js', '--seeds', String(seeds), '--stop-at-first'];
  try {
    const out = execFileSync(process.execPath, args, { cwd: dir, maxBuffer: 64 << 20 }).toString();
    return { out, code: 0 };
  } catch (e) {
    const x = e as { stdout?: Buffer; status?: number };
    return { out: x.stdout?.toString() ?? '', code: x.status ?? 1 };
  }
}

function tryMutant(patch: string | null, seeds: number): Outcome {
  const mutant = patch ? basename(patch, '.patch') : 'control (no patch)';
  const started = performance.now();
  const done = (o: Omit<Outcome, 'mutant' | 'seconds'>): Outcome => ({
    mutant,
    seconds: Math.round((performance.now() - started) / 1000),
    ...o,
  });
  const dir = copyTree(ROOT);
  try {
    const bad = patchAndBuild(dir, patch);
    if (bad) return done({ result: 'broken', fired: [], detail: bad });
    const r = simulate(dir, seeds);
    const first = /^seed (\d+): (.*)$/m.exec(r.out);
    if (r.code === 0 || !first)
      return done({ result: patch ? 'missed' : 'passed', fired: [], detail: `${seeds} seeds` });
    const fired = [...new Set([...r.out.matchAll(/^ {2}\[([a-z-]+)\]/gm)].map((m) => m[1]!))];
    const detail = r.out.split('\n').find((l) => l.startsWith('  [')) ?? first[2]!;
    return done({
      result: 'caught',
      seed: Number(first[1]),
      fired: fired.length ? fired : ['exception'],
      detail: detail.trim().slice(0, 300),
    });
  } finally {
    removeTree(dir);
  }
}

function main(): number {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      seeds: { type: 'string', default: '2000' },
      control: { type: 'boolean', default: false },
    },
  });
  const seeds = Number(values.seeds);
  const only = values.only?.split(',');
  const patches = readdirSync(PATCHES)
    .filter((f) => f.endsWith('.patch') && (!only || only.includes(basename(f, '.patch'))))
    .sort()
    .map((f) => join(PATCHES, f));
  const results: Outcome[] = [];
  for (const p of [...(values.control ? [null] : []), ...patches]) {
    const r = tryMutant(p, seeds);
    results.push(r);
    console.log(
      `${r.mutant}: ${r.result}${r.seed !== undefined ? ` by seed ${r.seed}` : ''} (${r.seconds} s)\n  ${r.detail}`,
    );
  }
  console.log('\n| mutant | result | first seed | checks that fired | time |');
  console.log('| :-- | :-- | --: | :-- | --: |');
  for (const r of results)
    console.log(
      `| ${r.mutant} | ${r.result} | ${r.seed ?? ''} | ${r.fired.join(', ')} | ${r.seconds} s |`,
    );
  const wrong = results.filter((r) =>
    r.mutant.startsWith('control') ? r.result !== 'passed' : r.result !== 'caught',
  );
  return wrong.length ? 1 : 0;
}

process.exitCode = main();
