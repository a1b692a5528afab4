// quorumlock dev: a local 3-node cluster in the foreground, each node a `quorumlock serve` child.
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, InvalidArgumentError } from 'commander';
import { type LocalNode, peersFlag, serveArgs } from '../local-cluster.js';

const IDS = ['n1', 'n2', 'n3'];
const PEER_OFFSET = 100;
const HTTP_OFFSET = 2100;
const MAX_BASE_PORT = 65_535 - HTTP_OFFSET - (IDS.length - 1);

function parseBasePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > MAX_BASE_PORT) {
    throw new InvalidArgumentError(`must be a port from 1 to ${MAX_BASE_PORT}`);
  }
  return port;
}

export function devNodes(basePort: number, dataDir: string): LocalNode[] {
  return IDS.map((id, i) => ({
    id,
    client: `127.0.0.1:${basePort + i}`,
    peer: `127.0.0.1:${basePort + PEER_OFFSET + i}`,
    http: `127.0.0.1:${basePort + HTTP_OFFSET + i}`,
    dataDir: resolve(dataDir, id),
  }));
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('run a local 3-node cluster in the foreground; Ctrl-C stops it')
    .option(
      '--base-port <port>',
      `client port of n1 (n2, n3 follow); peer ports +${PEER_OFFSET}, HTTP ports +${HTTP_OFFSET}`,
      parseBasePort,
      7001,
    )
    .option('--data-dir <dir>', 'holds each node’s data directory (n1, n2, n3)', './data')
    .action((opts: { basePort: number; dataDir: string }) =>
      runDev(devNodes(opts.basePort, opts.dataDir)),
    );
}

const say = (line: string) => process.stderr.write(`quorumlock dev: ${line}\n`);

function runDev(nodes: LocalNode[]): Promise<void> {
  const bin = fileURLToPath(new URL('../quorumlock.js', import.meta.url));
  const peers = peersFlag(nodes);
  process.stdout.write(`Quorum Lock dev cluster, ${nodes.length} nodes on 127.0.0.1:\n`);
  for (const n of nodes) {
    process.stdout.write(
      `  ${n.id}  client ${n.client}  peer ${n.peer}  http ${n.http}  data ${n.dataDir}\n`,
    );
  }
  process.stdout.write('Live view and JSON-RPC (POST /rpc, GET /ws) of each node:\n');
  for (const n of nodes) process.stdout.write(`  ${n.id}  http://${n.http}/\n`);
  process.stdout.write('Ctrl-C stops the cluster.\n');

  return new Promise((done) => {
    const alive = new Map<string, ChildProcess>();
    let stopping = false;
    let failed = false;

    // The terminal also signals the children (same process group); they ignore a repeat, and a
    // second Ctrl-C here kills them outright.
    const onSignal = (signal: NodeJS.Signals) => {
      const hard = stopping;
      stopping = true;
      if (hard) say('killing the nodes');
      for (const child of alive.values()) child.kill(hard ? 'SIGKILL' : signal);
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
    for (const s of signals) process.on(s, onSignal);

    const exited = (id: string, why: string, clean: boolean) => {
      if (!alive.delete(id)) return;
      if (!clean || !stopping) {
        failed = true;
        const rest = [...alive.keys()];
        say(
          `${id} ${why}${stopping || rest.length === 0 ? '' : `; ${rest.join(', ')} keep running`}`,
        );
      }
      if (alive.size > 0) return;
      for (const s of signals) process.off(s, onSignal);
      process.exitCode = failed ? 1 : 0;
      done();
    };

    for (const n of nodes) {
      const args = [bin, ...serveArgs(n, peers, ['--log-format', 'pretty'])];
      const child = spawn(process.execPath, [...process.execArgv, ...args], {
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      alive.set(n.id, child);
      child.on('error', (err) => exited(n.id, `could not start: ${err.message}`, false));
      child.on('exit', (code, signal) =>
        exited(n.id, signal ? `was killed by ${signal}` : `exited with code ${code}`, code === 0),
      );
    }
  });
}
