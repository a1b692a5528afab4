// npm run chaos:mutants -- [--only early-expiry,stale-read] [--seed 1] [--max-seeds 5]
//   [--seeds 4,17] [--duration 60s] [--nodes 3] [--clients 12] [--control]
// Proves the chaos suite catches real server bugs: for each planted bug in test/chaos/mutants/
// (a unified diff against the server sources, with a header saying what it plants), a scratch
// copy of this working tree gets the patch, is built, and runs short chaos runs over seeds until
// one fails or the seeds run out. Prints, per mutant, the first failing seed and what fired.
// --control also runs the seeds on an unpatched copy, which must pass. A patch that no longer
// applies (the server moved on) is reported as such, and the others still run. The scratch copy
// is removed afterwards; a failing run's history is kept under test/chaos/out/mutants/.
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { copyTree, patchAndBuild, removeTree } from '../support/scratch-copy.js';
import { formatDuration, parseDuration } from './schedule.js';

const ROOT = process.cwd();
const PATCHES = resolve(ROOT, 'test/chaos/mutants');
const KEEP = resolve(ROOT, 'test/chaos/out/mutants');

interface Outcome {
  mutant: string;
  /** caught: a run failed; missed (passed, for the control): every seed passed; broken: no build. */
  result: 'caught' | 'missed' | 'passed' | 'broken';
  seed?: number;
  runs: number;
  violations: string[];
  detail: string;
  seconds: number;
}

let child: ChildProcess | undefined;
let scratch: string | undefined;

const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);

function cleanUp(): void {
  removeTree(scratch);
  scratch = undefined;
}

/** One chaos run in the scratch copy: exit code and output. */
function chaosRun(
  dir: string,
  seed: number,
  o: RunOptions,
): Promise<{ code: number; out: string }> {
  const d = formatDuration(o.durationMs);
  const args = ['--enable-source-maps', 'dist/test/chaos/run.js', '--seed', String(seed)];
  args.push('--duration', d, '--segment', d, '--nodes', String(o.nodes));
  args.push('--clients', String(o.clients), '--out', join(dir, 'out'));
  return new Promise((done) => {
    const p = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child = p;
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    p.on('close', (code, signal) => {
      child = undefined;
      done({ code: code ?? (signal ? 128 : 2), out });
    });
  });
}

interface RunOptions {
  seeds: number[];
  durationMs: number;
  nodes: number;
  clients: number;
}

async function tryMutant(patch: string | null, o: RunOptions): Promise<Outcome> {
  const mutant = patch ? basename(patch, '.patch') : 'control (no patch)';
  const started = performance.now();
  const outcome = (x: Omit<Outcome, 'mutant' | 'seconds'>): Outcome => ({
    mutant,
    seconds: Math.round((performance.now() - started) / 1000),
    ...x,
  });
  const dir = copyTree(ROOT);
  scratch = dir;
  try {
    const bad = patchAndBuild(dir, patch);
    if (bad) return outcome({ result: 'broken', runs: 0, violations: [], detail: bad });
    let runs = 0;
    for (const seed of o.seeds) {
      runs++;
      log(`${mutant}: seed ${seed} (${formatDuration(o.durationMs)}, ${o.nodes} nodes)`);
      const r = await chaosRun(dir, seed, o);
      if (r.code === 0) continue;
      const violations = r.out.split('\n').filter((l) => /^ {2}\[[a-z-]+\]/.test(l));
      const history = /^history: (.+)$/m.exec(r.out)?.[1];
      let detail = '';
      if (history && existsSync(history)) {
        mkdirSync(KEEP, { recursive: true });
        const kept = join(KEEP, `${basename(mutant)}-seed${seed}.json`);
        copyFileSync(history, kept);
        detail = `history: ${kept}`;
      }
      if (r.code !== 1) {
        // The harness itself failed (no leader at start, say): worth knowing, not a catch.
        log(`${mutant}: seed ${seed} ended with code ${r.code}:\n${r.out.slice(-2000)}`);
        continue;
      }
      return outcome({ result: 'caught', seed, runs, violations, detail });
    }
    return outcome({
      result: patch ? 'missed' : 'passed',
      runs,
      violations: [],
      detail: `seeds ${o.seeds.join(',')}`,
    });
  } finally {
    cleanUp();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      seed: { type: 'string', default: '1' },
      'max-seeds': { type: 'string', default: '5' },
      seeds: { type: 'string' },
      duration: { type: 'string', default: '60s' },
      nodes: { type: 'string', default: '3' },
      clients: { type: 'string', default: '12' },
      control: { type: 'boolean', default: false },
    },
  });
  const first = Number(values.seed);
  const seeds = values.seeds
    ? values.seeds.split(',').map(Number)
    : Array.from({ length: Number(values['max-seeds']) }, (_, i) => first + i);
  if (seeds.some((s) => !Number.isInteger(s) || s < 0))
    throw new Error('seeds must be non-negative integers');
  const o: RunOptions = {
    seeds,
    durationMs: parseDuration(values.duration),
    nodes: Number(values.nodes),
    clients: Number(values.clients),
  };
  const only = values.only?.split(',');
  const patches = readdirSync(PATCHES)
    .filter((f) => f.endsWith('.patch') && (!only || only.includes(basename(f, '.patch'))))
    .sort()
    .map((f) => join(PATCHES, f));
  if (patches.length === 0) throw new Error(`no patches to run in ${PATCHES}`);
  const results: Outcome[] = [];
  for (const p of [...(values.control ? [null] : []), ...patches]) {
    const r = await tryMutant(p, o);
    results.push(r);
    log(
      `${r.mutant}: ${r.result}${r.seed !== undefined ? ` by seed ${r.seed}` : ''} (${r.runs} run(s), ${r.seconds} s)`,
    );
    for (const v of r.violations.slice(0, 5)) console.log(`  ${v.trim()}`);
    if (r.detail) console.log(`  ${r.detail}`);
  }
  console.log('\n| mutant | result | seed | checks that fired | runs |');
  console.log('| :-- | :-- | --: | :-- | --: |');
  for (const r of results) {
    const fired = [...new Set(r.violations.map((v) => /\[([a-z-]+)\]/.exec(v)![1]))].join(', ');
    console.log(
      `| ${r.mutant} | ${r.result} | ${r.seed ?? ''} | ${fired} | ${r.runs} x ${formatDuration(o.durationMs)} |`,
    );
  }
  const control = results.find((r) => r.mutant.startsWith('control'));
  const wrong = results.filter((r) =>
    r === control ? r.result !== 'passed' : r.result !== 'caught',
  );
  return wrong.length ? 1 : 0;
}

// Interrupted: stop the run in progress (its own exit hook kills its servers) and clean up.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    const running = child;
    const exited = running
      ? new Promise((r) => {
          running.once('close', r);
          setTimeout(r, 10_000).unref();
        })
      : Promise.resolve();
    running?.kill('SIGTERM');
    void exited.then(() => {
      cleanUp();
      process.exit(130);
    });
  });

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    cleanUp();
    process.exit(2);
  },
);
