// `npm run bench:snapshot -- [--mb 100]`: the cost of a snapshot of that size on RocksDB, and
// what it costs the event loop: saved in the background as RaftNode does (a chunk per turn),
// read back, sent over gRPC into a second RocksDB (as a follower receives one), and restored.
// Prints seconds and the event loop's longest stall during each phase.
import { crc32c } from '@node-rs/crc32';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { NodeSnapshots } from '../libs/raft/src/node-snapshots.js';
import { systemRuntime, type StateMachine } from '../libs/raft/src/ports.js';
import { RocksDbStorage } from '../libs/raft/src/storage/rocksdb-storage.js';
import { GrpcTransport } from '../libs/raft/src/transport/grpc-transport.js';
import { EntryType, type Message } from '../libs/raft/src/types.js';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '100' } } });
const chunks = Number(values.mb);
const MiB = 1 << 20;

/** Chunks of pseudo-random bytes made as they are pulled (about a millisecond each). */
class Synthetic implements StateMachine<number> {
  crc = 0;
  apply = (): number => 0;
  snapshot(): Iterable<Uint8Array> {
    return (function* () {
      let x = 1;
      for (let i = 0; i < chunks; i++) {
        const chunk = new Uint32Array(MiB / 4);
        for (let j = 0; j < chunk.length; j++) chunk[j] = x = (x * 1103515245 + 12345) >>> 0;
        yield new Uint8Array(chunk.buffer);
      }
    })();
  }
  async restore(stream: AsyncIterable<Uint8Array>): Promise<void> {
    for await (const c of stream) this.crc = crc32c(c, this.crc);
  }
}

async function phase<T>(name: string, run: () => Promise<T>): Promise<T> {
  const lag = monitorEventLoopDelay({ resolution: 1 });
  lag.enable();
  const started = performance.now();
  const result = await run();
  const seconds = (performance.now() - started) / 1000;
  lag.disable();
  const max = lag.max / 1e6;
  const p99 = lag.percentile(99) / 1e6;
  console.log(
    `${name.padEnd(34)} ${seconds.toFixed(2).padStart(6)} s   ` +
      `${((chunks * MiB) / 1e6 / seconds).toFixed(0).padStart(5)} MB/s   ` +
      `event loop: max stall ${max.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
  );
  return result;
}

const dirs = [mkdtempSync(join(tmpdir(), 'snap-a-')), mkdtempSync(join(tmpdir(), 'snap-b-'))];
const [a, b] = await Promise.all(dirs.map((d, i) => RocksDbStorage.open(d, `n${i}`)));
const receiver = new Synthetic();
let transports: GrpcTransport[] = [];
try {
  console.log(`snapshot of ${chunks} MiB`);
  await a!.save({
    entries: [{ index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array() }],
  });
  const meta = { index: 1, term: 1 };
  const taker = new NodeSnapshots(systemRuntime, a!, new Synthetic());
  await phase('take and save (RocksDB)', () => taker.take(meta, 0));
  const stored = (await a!.readSnapshot())!;
  await phase('read back', async () => {
    for await (const c of stored.data.chunks()) void c;
  });

  const peers: Record<string, string> = {};
  let delivered: (m: Message) => void = () => {};
  const received = new Promise<Message>((resolve) => (delivered = resolve));
  transports = [
    new GrpcTransport({
      id: 'n0',
      listenAddress: '127.0.0.1:0',
      peers,
      readSnapshot: () => a!.readSnapshot(),
      receiveSnapshot: (m, c) => a!.receiveSnapshot(m, c),
    }),
    new GrpcTransport({
      id: 'n1',
      listenAddress: '127.0.0.1:0',
      peers,
      readSnapshot: () => b!.readSnapshot(),
      receiveSnapshot: (m, c) => b!.receiveSnapshot(m, c),
    }),
  ];
  for (const [i, t] of transports.entries()) {
    await t.start();
    peers[`n${i}`] = `127.0.0.1:${t.port}`;
  }
  transports[1]!.onMessage((m) => delivered(m));
  const msg = await phase('send over gRPC into RocksDB', () => {
    transports[0]!.send({ type: 'InstallSnapshot', from: 'n0', to: 'n1', term: 1, snapshot: meta });
    return received;
  });
  if (msg.type !== 'InstallSnapshot' || !msg.data) throw new Error('no snapshot received');
  await b!.save({ snapshot: { meta, data: msg.data } });
  const restorer = new NodeSnapshots(systemRuntime, b!, receiver);
  await phase('restore (read and checksum)', () =>
    restorer.restore({ meta, data: msg.data! }, () => false),
  );
  let sent = 0;
  for await (const c of stored.data.chunks()) sent = crc32c(c, sent);
  if (receiver.crc !== sent) throw new Error('the restored bytes differ from those saved');
  console.log(`receiver: ${JSON.stringify(transports[1]!.receivedSnapshots)}`);
} finally {
  await Promise.all(transports.map((t) => t.stop()));
  await Promise.all([a!.close(), b!.close()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
