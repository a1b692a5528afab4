// A Raft node with a key-value state machine, run as its own process by the real-process tests
// and by `npm run bench:raft` (see process-cluster.ts). A small HTTP control port on 127.0.0.1
// lets the parent drive it.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { NotLeaderError } from '../src/errors.js';
import { RaftNode } from '../src/node.js';
import type { StateMachine } from '../src/ports.js';
import { chunksOf, readAll } from '../src/snapshot-stream.js';
import { RocksDbStorage } from '../src/storage/rocksdb-storage.js';
import { GrpcTransport } from '../src/transport/grpc-transport.js';
import { type Entry, EntryType } from '../src/types.js';

const { values: args } = parseArgs({
  options: {
    id: { type: 'string' },
    peers: { type: 'string' },
    'data-dir': { type: 'string' },
    'snapshot-entries': { type: 'string', default: '10000' },
    'snapshot-retain': { type: 'string', default: '1000' },
  },
});
const id = args.id!;
const peers = Object.fromEntries(
  args.peers!.split(',').map((p) => p.split('=') as [string, string]),
);
const ownAddress = peers[id];
if (ownAddress === undefined) throw new Error(`--peers names no address for ${id}`);

class KvStateMachine implements StateMachine<number> {
  map = new Map<string, string>();
  apply(e: Entry): number {
    if (e.type === EntryType.Normal && e.data.byteLength > 0 && e.data[0] === 0x7b /* '{' */) {
      const { k, v } = JSON.parse(Buffer.from(e.data).toString()) as { k: string; v: string };
      this.map.set(k, v);
    }
    return e.index;
  }
  snapshot(): Iterable<Uint8Array> {
    return chunksOf(Buffer.from(JSON.stringify([...this.map])));
  }
  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const data = await readAll(chunks);
    this.map = new Map(JSON.parse(Buffer.from(data).toString()) as [string, string][]);
  }
}

const sm = new KvStateMachine();
const storage = await RocksDbStorage.open(args['data-dir']!, id);
const transport = new GrpcTransport({
  id,
  listenAddress: ownAddress,
  peers,
  readSnapshot: () => storage.readSnapshot(),
  receiveSnapshot: (meta, chunks) => storage.receiveSnapshot(meta, chunks),
  logger: { warn: () => {} },
});
const node = await RaftNode.start<number>({
  id,
  voters: Object.keys(peers),
  storage,
  transport,
  stateMachine: sm,
  snapshotEntries: Number(args['snapshot-entries']),
  snapshotRetainEntries: Number(args['snapshot-retain']),
});

function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () =>
      resolve(
        chunks.length
          ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>)
          : {},
      ),
    );
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, code: number, obj: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
}

/** Runs `concurrency` proposers for `seconds`; reports throughput, latency and fsync batching. */
async function bench(concurrency: number, seconds: number, size: number) {
  const payload = new Uint8Array(size).fill(0x61);
  const latencies: number[] = [];
  let errors = 0;
  const before = { ...node.counters };
  const deadline = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t = performance.now();
      try {
        await node.propose(payload);
        latencies.push(performance.now() - t);
      } catch {
        errors++;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  const writes = node.counters.storageWrites - before.storageWrites;
  return {
    concurrency,
    ops: latencies.length,
    opsPerSec: latencies.length / elapsed,
    p50ms: q(0.5),
    p99ms: q(0.99),
    errors,
    storageWrites: writes,
    entriesPerWrite: writes ? (node.counters.entriesWritten - before.entriesWritten) / writes : 0,
  };
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const handle = async () => {
    const b = req.method === 'POST' ? await body(req) : {};
    switch (url.pathname) {
      case '/status':
        return reply(res, 200, { ...node.status(), counters: node.counters });
      case '/dump':
        return reply(res, 200, { applied: node.applied, map: Object.fromEntries(sm.map) });
      case '/propose': {
        const r = await node.propose(Buffer.from(JSON.stringify({ k: b.k, v: b.v })));
        return reply(res, 200, { index: r.index });
      }
      case '/read': {
        await node.read();
        return reply(res, 200, { value: sm.map.get(String(url.searchParams.get('k'))) ?? null });
      }
      case '/transfer':
        await node.transferLeadership(String(b.to));
        return reply(res, 200, {});
      case '/bench':
        return reply(
          res,
          200,
          await bench(Number(b.concurrency), Number(b.seconds), Number(b.size)),
        );
      default:
        return reply(res, 404, { error: 'not found' });
    }
  };
  handle().catch((e: Error) =>
    reply(res, e instanceof NotLeaderError ? 421 : 503, {
      error: e.message,
      name: e.name,
      leader: node.leaderId(),
    }),
  );
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  console.log(
    JSON.stringify({
      ready: true,
      id,
      controlPort: typeof addr === 'object' && addr ? addr.port : 0,
    }),
  );
});

process.on('SIGTERM', () => {
  server.close();
  node.stop({ transferLeadership: true }).then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
