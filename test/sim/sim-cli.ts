// `npm run sim -- --seeds N [--from S] [--nodes 3|5]` runs many seeds;
// `npm run sim -- --seed S --trace` replays one and prints its fault schedule and event trace.
import { parseArgs } from 'node:util';
import { addStats, emptyStats } from './raft-cluster.js';
import { runSeed } from './scenario.js';
import { replayCommand } from './replay.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1000' },
    from: { type: 'string', default: '1' },
    seed: { type: 'string' },
    nodes: { type: 'string' },
    trace: { type: 'boolean', default: false },
  },
});

function int(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
}

const nodes = values.nodes === undefined ? undefined : int('nodes', values.nodes);
if (nodes !== undefined && nodes !== 3 && nodes !== 5) {
  console.error('--nodes must be 3 or 5');
  process.exit(2);
}
const first = values.seed !== undefined ? int('seed', values.seed) : int('from', values.from);
const count = values.seed !== undefined ? 1 : int('seeds', values.seeds);
// Printed as it happens, so that a replayed failing seed shows what led up to the violation.
const trace = values.trace ? (line: string) => process.stdout.write(`${line}\n`) : undefined;
const started = performance.now();
const totals = emptyStats();
let worstRecovery = 0;
for (let seed = first; seed < first + count; seed++) {
  try {
    const res = await runSeed({ seed, nodes, trace });
    addStats(totals, res.stats);
    worstRecovery = Math.max(worstRecovery, res.recoveredAfterMs);
    if (values.seed !== undefined) {
      console.log(
        `seed ${seed}: ${res.nodes} nodes, recovered ${res.recoveredAfterMs.toFixed(0)}ms after healing`,
      );
      console.log(res.faults.join('\n'));
      console.log(JSON.stringify(res.stats));
    }
  } catch (e) {
    console.error(`seed ${seed} FAILED: ${(e as Error).stack}`);
    console.error(`replay: ${replayCommand(seed)}`);
    process.exit(1);
  }
}
const secs = (performance.now() - started) / 1000;
console.log(
  `${count} seeds passed in ${secs.toFixed(1)}s (${(count / secs).toFixed(1)} seeds/s, ` +
    `${((totals.events / secs) | 0).toLocaleString('en')} events/s); ` +
    `worst recovery ${worstRecovery.toFixed(0)}ms after healing`,
);
console.log(`totals: ${JSON.stringify(totals)}`);
