import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { crc32c } from '@node-rs/crc32';
import { GrpcTransport, loadRaftProto, RAFT_SERVICE_NAME } from '../../src/transport/index.js';
import {
  EntryType,
  type AppendEntries,
  type Message,
  type Snapshot,
  type SnapshotData,
} from '../../src/types.js';
import {
  bytesData,
  everyMessageType,
  harness,
  normalize,
  receiveInMemory,
  type BytesData,
  type Harness,
} from './fixtures.js';
import { freePort } from '../../../testing/src/ports.js';
import { waitFor } from '../../../testing/src/wait.js';

const MiB = 1024 * 1024;

function append(from: string, to: string, n: number, dataBytes = 8): AppendEntries {
  return {
    type: 'AppendEntries',
    from,
    to,
    term: 1,
    prevLogIndex: n,
    prevLogTerm: 1,
    entries: [{ index: n + 1, term: 1, type: EntryType.Normal, data: new Uint8Array(dataBytes) }],
    leaderCommit: n,
  };
}

describe('GrpcTransport', () => {
  let h: Harness;

  beforeEach(() => {
    h = harness();
  });

  afterEach(async () => {
    await h.stopAll();
  });

  it('exchanges every message type in both directions', async () => {
    const bytes = randomBytes(5000);
    const snapshot: Snapshot = { meta: { index: 100, term: 6 }, data: bytesData(bytes) };
    const a = h.create('a', { readSnapshot: async () => snapshot });
    const b = h.create('b', { readSnapshot: async () => snapshot });
    await h.start(a.transport, 'a');
    await h.start(b.transport, 'b');
    const toB = everyMessageType('a', 'b');
    const toA = everyMessageType('b', 'a');
    for (const m of toB) a.transport.send(m);
    for (const m of toA) b.transport.send(m);
    await waitFor('messages at a', () => a.received.length === toA.length);
    await waitFor('messages at b', () => b.received.length === toB.length);

    // The snapshot has its own stream, so only the other messages keep their relative order.
    const withData = (m: Message): unknown =>
      normalize(m.type === 'InstallSnapshot' ? { ...m, data: bytesData(bytes) } : m);
    const isSnap = (m: Message): boolean => m.type === 'InstallSnapshot';
    for (const [sent, got] of [
      [toB, b.received],
      [toA, a.received],
    ] as const) {
      expect(got.filter((m) => !isSnap(m)).map(normalize)).toEqual(
        sent.filter((m) => !isSnap(m)).map(normalize),
      );
      expect(got.filter(isSnap).map(normalize)).toEqual(sent.filter(isSnap).map(withData));
    }
    expect(h.warnings).toEqual([]);
  });

  it('refuses calls from another cluster; a joining node adopts the first cluster and learns its address', async () => {
    const identity = (id: string) => {
      const c = { current: id, mismatches: [] as string[] };
      return {
        c,
        cluster: {
          id: () => c.current,
          adopt: (x: string) => (c.current = x),
          mismatch: (peer: string, detail: string) => c.mismatches.push(`${peer}: ${detail}`),
        },
      };
    };
    const ia = identity('cluster-a');
    const ib = identity('cluster-b');
    const ij = identity('');
    const a = h.create('a', { cluster: ia.cluster, advertiseAddress: 'unused' });
    const b = h.create('b', { cluster: ib.cluster });
    await h.start(a.transport, 'a');
    await h.start(b.transport, 'b');
    // Only the joiner's own address is listed nowhere: it must learn where a is from a's call.
    const a2Address = `127.0.0.1:${await freePort()}`;
    const a2 = h.create('a2', {
      cluster: ia.cluster,
      listenAddress: a2Address,
      advertiseAddress: a2Address,
    });
    await h.start(a2.transport, 'a2');
    delete h.peers['a2'];
    const j = h.create('j', { cluster: ij.cluster, peers: {} });
    await j.transport.start();
    h.peers['j'] = `127.0.0.1:${j.transport.port}`;
    a.transport.send(everyMessageType('a', 'b')[2]!);
    await waitFor('a told of the mismatch', () => ia.c.mismatches.length > 0);
    expect(ia.c.mismatches[0]).toMatch(
      /^b: cluster id mismatch: this node is in cluster cluster-b/,
    );
    expect(b.received).toEqual([]);
    a2.transport.send(everyMessageType('a2', 'j')[2]!);
    await waitFor('j received', () => j.received.length === 1);
    expect(ij.c.current).toBe('cluster-a');
    j.transport.send(everyMessageType('j', 'a2')[3]!);
    await waitFor('a2 received the answer', () => a2.received.length === 1);
  });

  it('delivers 1000 messages over one stream in order', async () => {
    const a = h.create('a');
    const b = h.create('b');
    await h.start(a.transport, 'a');
    await h.start(b.transport, 'b');
    for (let i = 0; i < 1000; i++) a.transport.send(append('a', 'b', i));
    await waitFor('1000 messages', () => b.received.length === 1000);
    expect(b.received.map((m) => (m as AppendEntries).prevLogIndex)).toEqual(
      Array.from({ length: 1000 }, (_, i) => i),
    );
    expect(a.unreachable).toEqual([]);
  });

  it('streams a multi-chunk snapshot and reports success', async () => {
    const data = randomBytes(3.5 * MiB);
    const a = h.create('a', {
      readSnapshot: async () => ({ meta: { index: 500, term: 4 }, data: bytesData(data, 300_000) }),
    });
    const b = h.create('b');
    const statuses: [string, boolean][] = [];
    a.transport.onSnapshotStatus((peer, ok) => statuses.push([peer, ok]));
    await h.start(a.transport, 'a');
    await h.start(b.transport, 'b');
    const msg: Message = {
      type: 'InstallSnapshot',
      from: 'a',
      to: 'b',
      term: 5,
      snapshot: { index: 500, term: 4 },
    };
    a.transport.send(msg);
    // A second request while the first is in flight is absorbed, not sent twice.
    a.transport.send(msg);
    await waitFor('snapshot status', () => statuses.length > 0);
    expect(statuses).toEqual([['b', true]]);
    expect(b.received).toHaveLength(1);
    const got = b.received[0]!;
    if (got.type !== 'InstallSnapshot' || got.data === undefined) throw new Error('no snapshot');
    expect(got).toMatchObject({ from: 'a', to: 'b', term: 5, snapshot: { index: 500, term: 4 } });
    expect(Buffer.compare(Buffer.from((got.data as BytesData).raw), data)).toBe(0);
  });

  it('receives a 50 MB snapshot a chunk at a time, never holding it whole', async () => {
    const total = 50 * MiB;
    let sentCrc = 0;
    // Made as it is read: the sender never holds it whole either.
    const generated: SnapshotData = {
      bytes: total,
      chunks: async function* () {
        for (let at = 0; at < total; at += MiB) {
          const chunk = randomBytes(MiB);
          sentCrc = crc32c(chunk, sentCrc);
          yield chunk;
        }
      },
    };
    const a = h.create('a', {
      readSnapshot: async () => ({ meta: { index: 9000, term: 3 }, data: generated }),
    });
    const seen = { bytes: 0, chunks: 0, largestChunk: 0, largestBuffer: 0, crc: 0 };
    // A storage that writes slowly: the stream waits for it (see snapshot-receiver.spec.ts).
    const b = h.create('b', {
      receiveSnapshot: async (_meta, chunks) => {
        for await (const chunk of chunks) {
          seen.chunks++;
          seen.bytes += chunk.length;
          seen.largestChunk = Math.max(seen.largestChunk, chunk.length);
          seen.largestBuffer = Math.max(seen.largestBuffer, chunk.buffer.byteLength);
          seen.crc = crc32c(chunk, seen.crc);
          await new Promise((resolve) => setImmediate(resolve));
        }
        return bytesData(new Uint8Array(0));
      },
    });
    const statuses: boolean[] = [];
    a.transport.onSnapshotStatus((_peer, ok) => statuses.push(ok));
    await h.start(a.transport, 'a');
    await h.start(b.transport, 'b');
    a.transport.send({
      type: 'InstallSnapshot',
      from: 'a',
      to: 'b',
      term: 3,
      snapshot: { index: 9000, term: 3 },
    });
    await waitFor('snapshot status', () => statuses.length > 0, 60_000);
    expect(statuses).toEqual([true]);
    expect(seen.bytes).toBe(total);
    expect(seen.crc).toBe(sentCrc);
    expect(seen.chunks).toBeGreaterThanOrEqual(50);
    // Every piece handed to the storage is a chunk, in a buffer of about a chunk's size...
    expect(seen.largestChunk).toBeLessThanOrEqual(MiB);
    expect(seen.largestBuffer).toBeLessThan(4 * MiB);
    // ... and what waited for the storage stayed near the receive high-water mark (1 MiB).
    expect(b.transport.receivedSnapshots.count).toBe(1);
    expect(b.transport.receivedSnapshots.maxWaitingBytes).toBeLessThanOrEqual(2 * MiB);
    expect(b.received).toHaveLength(1);
  }, 90_000);

  it('fails the transfer when the receiving storage fails, or the stored snapshot cannot be read', async () => {
    const a = h.create('a', {
      readSnapshot: async () => ({
        meta: { index: 5, term: 1 },
        data: bytesData(randomBytes(5000), 1000),
      }),
    });
    let staged = 0;
    const b = h.create('b', {
      receiveSnapshot: async (_meta, chunks) => {
        for await (const chunk of chunks) {
          staged += chunk.length;
          throw new Error('disk full');
        }
        return bytesData(new Uint8Array(0));
      },
    });
    const statuses: boolean[] = [];
    a.transport.onSnapshotStatus((_peer, ok) => statuses.push(ok));
    await h.start(a.transport, 'a');
    await h.start(b.transport, 'b');
    const msg = everyMessageType('a', 'b')[7]!;
    a.transport.send(msg);
    await waitFor('first snapshot status', () => statuses.length === 1);
    expect(statuses).toEqual([false]);
    expect(staged).toBeGreaterThan(0);
    expect(b.received).toEqual([]);
    expect(h.warnings.map((w) => w.msg)).toContain('rejecting snapshot transfer');

    // The sender's snapshot was replaced before it could be read: the transfer fails too, and
    // the receiver drops what it had started to stage.
    const failing: SnapshotData = {
      bytes: 3 * MiB,
      chunks: async function* () {
        yield new Uint8Array(MiB);
        throw new Error('snapshot at index 5 is no longer stored');
      },
    };
    const c = h.create('c', {
      readSnapshot: async () => ({ meta: { index: 5, term: 1 }, data: failing }),
    });
    let receiverSaw: unknown;
    const d = h.create('d', {
      receiveSnapshot: (meta, chunks) =>
        receiveInMemory(meta, chunks).catch((e: unknown) => {
          receiverSaw = e;
          throw e;
        }),
    });
    const cStatus: boolean[] = [];
    c.transport.onSnapshotStatus((_peer, ok) => cStatus.push(ok));
    await h.start(c.transport, 'c');
    await h.start(d.transport, 'd');
    c.transport.send(everyMessageType('c', 'd')[7]!);
    await waitFor('failed transfer', () => cStatus.length === 1 && receiverSaw !== undefined);
    expect(cStatus).toEqual([false]);
    expect(d.received).toEqual([]);
  });

  it('reports a failed snapshot when none is stored', async () => {
    const a = h.create('a');
    const b = h.create('b');
    const statuses: [string, boolean][] = [];
    a.transport.onSnapshotStatus((peer, ok) => statuses.push([peer, ok]));
    await h.start(a.transport, 'a');
    await h.start(b.transport, 'b');
    a.transport.send(everyMessageType('a', 'b').find((m) => m.type === 'InstallSnapshot')!);
    await waitFor('snapshot status', () => statuses.length > 0);
    expect(statuses).toEqual([['b', false]]);
  });

  it('reaches a peer that comes up after messages were sent to it', async () => {
    const port = await freePort();
    h.peers['b'] = `127.0.0.1:${port}`;
    const a = h.create('a');
    await h.start(a.transport, 'a');
    a.transport.send(append('a', 'b', 1));
    await waitFor('unreachable report', () => a.unreachable.includes('b'));

    const b = h.create('b', { listenAddress: `127.0.0.1:${port}` });
    await b.transport.start();
    a.transport.send(append('a', 'b', 2));
    await waitFor('message sent after the peer came up', () =>
      b.received.some((m) => (m as AppendEntries).prevLogIndex === 2),
    );
    // What was queued while the peer was down is either delivered, in order, or was dropped.
    const indexes = b.received.map((m) => (m as AppendEntries).prevLogIndex);
    expect([[2], [1, 2]]).toContainEqual(indexes);
  });

  it('drops instead of queueing without bound while the peer is down', async () => {
    h.peers['b'] = `127.0.0.1:${await freePort()}`;
    const a = h.create('a', { maxQueuedMessages: 100 });
    await h.start(a.transport, 'a');
    for (let i = 0; i < 1000; i++) a.transport.send(append('a', 'b', i));
    expect(a.transport.peerStats('b')).toMatchObject({ queued: 100, dropped: 900 });
    // Drops in one burst are coalesced into a single report, delivered outside send().
    expect(a.unreachable).toEqual([]);
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    expect(a.unreachable).toEqual(['b']);
  });

  it('bounds the queue by bytes as well', async () => {
    h.peers['b'] = `127.0.0.1:${await freePort()}`;
    const a = h.create('a', { maxQueuedBytes: 64 * 1024 });
    await h.start(a.transport, 'a');
    for (let i = 0; i < 100; i++) a.transport.send(append('a', 'b', i, 4096));
    const stats = a.transport.peerStats('b')!;
    expect(stats.queued).toBeLessThan(16);
    expect(stats.queued + stats.dropped).toBe(100);
  });

  it('drops a message larger than maxMessageBytes before sending it', async () => {
    const a = h.create('a', { maxMessageBytes: 64 * 1024 });
    const b = h.create('b');
    await h.start(a.transport, 'a');
    await h.start(b.transport, 'b');
    a.transport.send(append('a', 'b', 1, 100 * 1024));
    a.transport.send(append('a', 'b', 2));
    await waitFor('small message', () => b.received.length === 1);
    expect((b.received[0] as AppendEntries).prevLogIndex).toBe(2);
    expect(a.unreachable).toEqual(['b']);
    expect(h.warnings.map((w) => w.msg)).toContain('dropping message larger than maxMessageBytes');
  });

  it('survives a receiver rejecting an oversize message', async () => {
    const a = h.create('a', { maxMessageBytes: 4 * MiB });
    const b = h.create('b', { maxMessageBytes: 64 * 1024 });
    await h.start(a.transport, 'a');
    await h.start(b.transport, 'b');
    a.transport.send(append('a', 'b', 1));
    await waitFor('first message', () => b.received.length === 1);
    a.transport.send(append('a', 'b', 2, 100 * 1024));
    await waitFor('stream failure', () => a.unreachable.includes('b'));
    a.transport.send(append('a', 'b', 3));
    await waitFor('message after the rejection', () => b.received.length === 2);
    expect(b.received.map((m) => (m as AppendEntries).prevLogIndex)).toEqual([1, 3]);
  });

  it('drops messages addressed to another node', async () => {
    const a = h.create('a');
    const b = h.create('b');
    await h.start(a.transport, 'a');
    await h.start(b.transport, 'b');
    // 'c' resolves to b's address, as after a misconfiguration or an address reuse.
    h.peers['c'] = h.peers['b']!;
    a.transport.send(append('a', 'c', 1));
    a.transport.send(append('a', 'b', 2));
    await waitFor('correctly addressed message', () => b.received.length === 1);
    expect((b.received[0] as AppendEntries).prevLogIndex).toBe(2);
    expect(h.warnings).toContainEqual(
      expect.objectContaining({ msg: 'dropping message addressed to another node' }),
    );
  });

  it('serves the unary RPCs', async () => {
    const b = h.create('b');
    await h.start(b.transport, 'b');
    const { definition } = loadRaftProto();
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      quorumlock: { raft: { v1: { RaftTransport: grpc.ServiceClientConstructor } } };
    };
    expect(RAFT_SERVICE_NAME).toBe('quorumlock.raft.v1.RaftTransport');
    const client = new pkg.quorumlock.raft.v1.RaftTransport(
      h.peers['b']!,
      grpc.credentials.createInsecure(),
    );
    const call = (method: string, req: object): Promise<grpc.ServiceError | null> =>
      new Promise((resolve) =>
        (client[method] as (r: object, cb: (e: grpc.ServiceError | null) => void) => void)(
          req,
          (err) => resolve(err),
        ),
      );
    try {
      const base = { from: 'a', to: 'b', term: 3 };
      expect(await call('TimeoutNow', base)).toBeNull();
      expect(await call('RequestVote', { ...base, last_log_index: 4, pre_vote: true })).toBeNull();
      expect(await call('Heartbeat', { ...base, leader_commit: 2, ctx: 9 })).toBeNull();
      expect(await call('AppendEntries', { ...base, entries: [{ index: 1, term: 3 }] })).toBeNull();
      const wrong = await call('TimeoutNow', { ...base, to: 'z' });
      expect(wrong?.code).toBe(grpc.status.INVALID_ARGUMENT);
    } finally {
      client.close();
    }
    expect(b.received.map((m) => m.type)).toEqual([
      'TimeoutNow',
      'RequestVote',
      'Heartbeat',
      'AppendEntries',
    ]);
    expect(b.received[1]).toMatchObject({ lastLogIndex: 4, preVote: true, transfer: false });
  });

  /** a has sent b one message, then b stopped and a saw its stream to b lost. */
  async function bStoppedAfterOneMessage(aOptions: Parameters<Harness['create']>[1] = {}) {
    const a = h.create('a', aOptions);
    const b1 = h.create('b');
    await h.start(a.transport, 'a');
    await h.start(b1.transport, 'b');
    a.transport.send(append('a', 'b', 1));
    await waitFor('message before the restart', () => b1.received.length === 1);
    await b1.transport.stop();
    await waitFor('lost stream reported', () => a.unreachable.includes('b'));
    return a;
  }

  it('reconnects to a peer that restarts on the same address', async () => {
    const a = await bStoppedAfterOneMessage();
    const b2 = h.create('b', { listenAddress: h.peers['b'] });
    await b2.transport.start();
    a.transport.send(append('a', 'b', 2));
    await waitFor('message after the restart', () => b2.received.length === 1);
    expect((b2.received[0] as AppendEntries).prevLogIndex).toBe(2);
  });

  it('a peer that starts opens its streams at once, so a link to it waiting out a long backoff reconnects then', async () => {
    // Without the restarted peer's announcement, a's next attempt would come 30-60 s later.
    const a = await bStoppedAfterOneMessage({
      initialReconnectBackoffMs: 60_000,
      maxReconnectBackoffMs: 60_000,
    });
    a.transport.send(append('a', 'b', 2));
    // b comes back and sends nothing: only its stream's opening tells a that it is up.
    const b2 = h.create('b', { listenAddress: h.peers['b'] });
    await b2.transport.start();
    await waitFor('the queued message after the restart', () => b2.received.length === 1);
    expect((b2.received[0] as AppendEntries).prevLogIndex).toBe(2);
    expect(a.received).toEqual([]);
  });

  it('stops cleanly with streams open, leaving no sockets, and ignores later sends', async () => {
    const sockets = (): number =>
      process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length;
    const before = sockets();
    const a = h.create('a');
    const b = h.create('b');
    await h.start(a.transport, 'a');
    await h.start(b.transport, 'b');
    a.transport.send(append('a', 'b', 1));
    b.transport.send(append('b', 'a', 1));
    await waitFor('first messages', () => b.received.length === 1 && a.received.length === 1);
    expect(sockets()).toBeGreaterThan(before);
    await b.transport.stop();
    await a.transport.stop();
    await waitFor('sockets closed', () => sockets() === before);
    expect(() => a.transport.send(append('a', 'b', 2))).not.toThrow();
    const unstarted = new GrpcTransport({
      id: 'x',
      listenAddress: '127.0.0.1:0',
      peers: {},
      readSnapshot: async () => null,
      receiveSnapshot: receiveInMemory,
    });
    await unstarted.stop();
  });
});
