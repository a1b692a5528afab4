// npm run sim:mutants -- [--only name,name] [--seeds 2000] [--control]
// Proves the simulators find planted bugs: each file in test/sim/mutants/ is a small diff against
// the sources that plants one bug, with a header saying what it plants (so that it can be
// re-created when the code moves). Patches named raft-* plant a bug in libs/raft and run the
// Raft simulator (npm run sim); the others run the whole-service simulator of the lock layer. For each, a scratch copy of this working
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

function simulate(dir: string, seeds: number, raft: boolean): { out: string; code: number } {
  const args = raft
    ? ['dist/test/sim/sim-cli.js', '--seeds', String(seeds)]
    : ['dist/test/sim/lock/sim-lock-cli.js', '--seeds', String(seeds), '--stop-at-first'];
  try {
    const out = execFileSync(process.execPath, args, {
      cwd: dir,
      maxBuffer: 64 << 20,
      stdio: 'pipe',
    }).toString();
    return { out, code: 0 };
  } catch (e) {
    const x = e as { stdout?: Buffer; stderr?: Buffer; status?: number };
    const out = `${x.stdout?.toString() ?? ''}${x.stderr?.toString() ?? ''}`;
    if (!raft) return { out, code: x.status ?? 1 };
    // The Raft simulator stops at the first failing seed:
    // "seed N FAILED: SimFailure: at T ms: SafetyViolation: <check>: ...".
    const violation = /^seed (\d+) FAILED: .*?SafetyViolation: (([a-z ]+):.*)$/m.exec(out);
    const failed = violation ?? /^seed (\d+) FAILED: (.*)$/m.exec(out);
    const check = violation ? `\n  [${violation[3]!.replace(/ /g, '-')}] ${violation[2]}` : '';
    const text = failed ? `seed ${failed[1]}: ${failed[2]}${check}` : out;
    return { out: text, code: x.status ?? 1 };
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
    const r = simulate(dir, seeds, mutant.startsWith('raft-'));
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
