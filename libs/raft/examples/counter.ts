// The engine under a state machine of your own: a replicated counter on three nodes in one
// process, on RocksDB and gRPC over loopback. libs/raft/README.md walks through it, and
// test/node/counter-example.spec.ts runs it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Entry,
  EntryType,
  GrpcTransport,
  RaftNode,
  readAll,
  RocksDbStorage,
  type StateMachine,
} from '../src/index.js';

/**
 * Adds each command (a signed 32-bit integer) to a total. apply() is deterministic and never
 * throws; a snapshot is the total, so the state is its own point-in-time copy.
 */
export class Counter implements StateMachine<number> {
  total = 0;

  apply(entry: Entry): number {
    // Noop entries mark a new leader's term; a command too short to be one is ignored, not
    // thrown on: every replica must apply every entry the same way.
    if (entry.type === EntryType.Normal && entry.data.byteLength === 4) {
      this.total += Buffer.from(entry.data).readInt32BE(0);
    }
    return this.total;
  }

  snapshot(): Iterable<Uint8Array> {
    const bytes = Buffer.alloc(8);
    bytes.writeDoubleBE(this.total);
    return [bytes];
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.total = Buffer.from(await readAll(chunks)).readDoubleBE(0);
  }
}

export function add(n: number): Uint8Array {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(n);
  return bytes;
}

export interface CounterCluster {
  readonly nodes: Map<string, RaftNode<number>>;
  readonly counters: Map<string, Counter>;
  /** Resolves with the node every running node agrees leads. */
  leader(timeoutMs?: number): Promise<RaftNode<number>>;
  stop(): Promise<void>;
}

/** Three nodes, each with its own RocksDB directory, its own gRPC port and its own Counter. */
export async function startCounterCluster(ids = ['a', 'b', 'c']): Promise<CounterCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'raft-counter-'));
  // Port 0 binds a free port; a transport reads a peer's address when it first contacts it, so
  // addresses can be filled in as the nodes start.
  const peers: Record<string, string> = {};
  const nodes = new Map<string, RaftNode<number>>();
  const counters = new Map<string, Counter>();
  try {
    for (const id of ids) {
      const storage = await RocksDbStorage.open(join(dir, id), id);
      const transport = new GrpcTransport({
        id,
        listenAddress: '127.0.0.1:0',
        peers,
        // Snapshots travel between storages in chunks, never through one buffer.
        readSnapshot: () => storage.readSnapshot(),
        receiveSnapshot: (meta, chunks) => storage.receiveSnapshot(meta, chunks),
      });
      const counter = new Counter();
      const node = await RaftNode.start({
        id,
        voters: ids,
        storage,
        transport,
        stateMachine: counter,
        snapshotEntries: 100,
      });
      peers[id] = `127.0.0.1:${transport.port}`;
      nodes.set(id, node);
      counters.set(id, counter);
    }
  } catch (e) {
    await Promise.all([...nodes.values()].map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    nodes,
    counters,
    async leader(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const known = new Set([...nodes.values()].map((n) => n.leaderId()));
        const [id] = known;
        const node = id === undefined ? undefined : nodes.get(id);
        if (known.size === 1 && node?.isLeader()) return node;
        if (Date.now() > deadline) throw new Error(`no leader within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      await Promise.all([...nodes.values()].map((n) => n.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
