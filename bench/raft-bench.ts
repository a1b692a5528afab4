// `npm run bench:raft`: a 3-node Raft cluster of real processes on 127.0.0.1 with RocksDB;
// committed 128-byte proposals per second and commit latency at 1, 16 and 256 concurrent
// proposers (running inside the leader's process, so that the figure is Raft's, not a client's).
import { cpus, totalmem } from 'node:os';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ProcessCluster } from '../libs/raft/testing/process-cluster.js';
import { waitFor } from '../libs/testing/src/wait.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    'no-write': { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);

interface Row {
  concurrency: number;
  ops: number;
  opsPerSec: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  storageWrites: number;
  entriesPerWrite: number;
}

const cluster = new ProcessCluster(['n1', 'n2', 'n3']);
// The exit in finally ends the process, a failed stop included.
const cleanup = (): void => void cluster.stop().finally(() => process.exit(130));
process.once('SIGINT', cleanup);
process.once('SIGTERM', cleanup);

const rows: Row[] = [];
try {
  await cluster.start();
  const leader = await waitFor('a leader', () => cluster.leader());
  // Warm-up: JIT, gRPC connections, RocksDB files.
  await cluster.call(leader, '/bench', { concurrency: 16, seconds: 1, size: 128 });
  for (const concurrency of [1, 16, 256]) {
    const r = await cluster.call<Row>(leader, '/bench', { concurrency, seconds, size: 128 });
    rows.push(r.body);
    console.log(
      `${String(concurrency).padStart(4)} proposers: ${r.body.opsPerSec.toFixed(0).padStart(7)} commits/s  ` +
        `p50 ${r.body.p50ms.toFixed(2)} ms  p99 ${r.body.p99ms.toFixed(2)} ms  ` +
        `${r.body.entriesPerWrite.toFixed(1)} entries/fsync  errors ${r.body.errors}`,
    );
  }
} finally {
  await cluster.stop();
}

const table = [
  '| proposers | commits/s | p50 ms | p99 ms | entries per fsync (leader) | errors |',
  '|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.concurrency} | ${r.opsPerSec.toFixed(0)} | ${r.p50ms.toFixed(2)} | ${r.p99ms.toFixed(2)} | ${r.entriesPerWrite.toFixed(1)} | ${r.errors} |`,
  ),
].join('\n');
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
const section = [
  '<!-- raft-bench:start -->',
  `Run of \`npm run bench:raft\` on ${new Date().toISOString().slice(0, 10)} (${machine}); ${seconds} s per row,`,
  '3 processes on 127.0.0.1, RocksDB with a synced write per Ready, 128-byte proposals.',
  '',
  table,
  '<!-- raft-bench:end -->',
].join('\n');
console.log(`\n${section}`);
if (!values['no-write']) {
  const file = 'BENCHMARKS.md';
  const old = existsSync(file)
    ? readFileSync(file, 'utf8')
    : '# Benchmarks\n\n## Raft engine\n\n<!-- raft-bench:start -->\n<!-- raft-bench:end -->\n';
  writeFileSync(
    file,
    old.replace(/<!-- raft-bench:start -->[\s\S]*<!-- raft-bench:end -->/, section),
  );
  console.log(`\nwrote ${file}`);
}
