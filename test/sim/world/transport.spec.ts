import {
  type Message,
  readAll,
  type Snapshot,
  snapshotDataOf,
  type SnapshotData,
  type SnapshotMeta,
} from '../../../libs/raft/src/index.js';
import { SimNetwork, SimTransport, SimWorld } from './index.js';

/** A receiver's storage in memory: the bytes, whole, once all chunks came. */
async function receiveWhole(_meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>) {
  const data = await readAll(chunks);
  return { ...snapshotDataOf(data), whole: data };
}
const whole = (m: Message): Uint8Array | undefined =>
  m.type === 'InstallSnapshot' ? (m.data as SnapshotData & { whole: Uint8Array }).whole : undefined;

const heartbeat = (from: string, to: string): Message => ({
  type: 'Heartbeat',
  from,
  to,
  term: 1,
  leaderCommit: 0,
  ctx: 0,
});

const snapshotMsg = (from: string, to: string): Message => ({
  type: 'InstallSnapshot',
  from,
  to,
  term: 1,
  snapshot: { index: 5, term: 1 },
});

async function setup(
  stored: Snapshot | null = {
    meta: { index: 7, term: 1 },
    data: snapshotDataOf(Uint8Array.of(1, 2, 3), 2),
  },
  receiveSnapshot: (
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ) => Promise<SnapshotData> = receiveWhole,
) {
  const w = new SimWorld(1);
  const net = new SimNetwork(w, { minDelayMs: 1, maxDelayMs: 2 });
  const make = (id: string) => {
    const host = w.spawn(id);
    const t = new SimTransport(host, net, { readSnapshot: async () => stored, receiveSnapshot });
    const got: Message[] = [];
    const unreachable: string[] = [];
    const status: [string, boolean][] = [];
    t.onMessage((m) => got.push(m));
    t.onUnreachable((p) => unreachable.push(p));
    t.onSnapshotStatus((p, ok) => status.push([p, ok]));
    return { host, t, got, unreachable, status };
  };
  const a = make('a');
  const b = make('b');
  await a.t.start();
  await b.t.start();
  return { w, net, a, b };
}

describe('SimTransport', () => {
  test('delivers messages to the peer transport, as copies', async () => {
    const { w, a, b } = await setup();
    const m = heartbeat('a', 'b');
    a.t.send(m);
    await w.run(10);
    expect(b.got).toEqual([m]);
    expect(b.got[0]).not.toBe(m);
  });

  test('InstallSnapshot streams the stored snapshot chunk by chunk and reports success once acknowledged', async () => {
    const { w, a, b } = await setup();
    a.t.send(snapshotMsg('a', 'b'));
    a.t.send(snapshotMsg('a', 'b')); // one transfer per peer at a time
    await w.run(40);
    expect(b.got).toHaveLength(1);
    expect(b.got[0]).toMatchObject({ snapshot: { index: 7, term: 1 } });
    expect(whole(b.got[0]!)).toEqual(Uint8Array.of(1, 2, 3));
    // Two chunks of data, then the end.
    expect(a.t.stats.snapshotChunksSent).toBe(3);
    expect(a.status).toEqual([['b', true]]);
  });

  test('duplicated and reordered chunks do not corrupt a transfer', async () => {
    const bytes = new Uint8Array(50).map((_, i) => i);
    const { w, net, a, b } = await setup({
      meta: { index: 7, term: 1 },
      data: snapshotDataOf(bytes, 3),
    });
    net.policy = { ...net.policy, dupRate: 1, maxDelayMs: 20 };
    a.t.send(snapshotMsg('a', 'b'));
    await w.run(2000);
    expect(b.got).toHaveLength(1);
    expect(whole(b.got[0]!)).toEqual(bytes);
    expect(a.status).toEqual([['b', true]]);
  });

  test('chunks wait while the receiving storage is behind: what it holds stays bounded', async () => {
    const bytes = new Uint8Array(100_000);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let pulled = 0;
    // A storage that writes one chunk and then stalls until released.
    const slow = async (_meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>) => {
      for await (const c of chunks) {
        pulled += c.length;
        if (pulled === c.length) await gate;
      }
      return snapshotDataOf(new Uint8Array(0));
    };
    const { w, a, b } = await setup(
      { meta: { index: 7, term: 1 }, data: snapshotDataOf(bytes, 1000) },
      slow,
    );
    a.t.send(snapshotMsg('a', 'b'));
    await w.run(500);
    // Up to the receiver's high-water mark (4 KB) beyond the chunk being written, no more.
    expect(a.t.stats.snapshotChunksSent).toBeLessThanOrEqual(7);
    release();
    await w.run(2000);
    expect(pulled).toBe(100_000);
    expect(a.t.stats.snapshotChunksSent).toBe(101);
    expect(b.got).toHaveLength(1);
  });

  test('a snapshot that cannot be delivered reports failure and unreachable', async () => {
    const { w, net, a } = await setup();
    net.block('a', 'b');
    a.t.send(snapshotMsg('a', 'b'));
    await w.run(20);
    expect(a.status).toEqual([['b', false]]);
    expect(a.unreachable).toEqual(['b']);
  });

  test('a snapshot whose acknowledgements are lost stalls and fails after the timeout', async () => {
    let failed: unknown;
    const { w, net, a, b } = await setup(undefined, (meta, chunks) =>
      receiveWhole(meta, chunks).catch((e: unknown) => {
        failed = e;
        throw e;
      }),
    );
    net.block('b', 'a');
    a.t.send(snapshotMsg('a', 'b'));
    await w.run(980); // the timeout is in a's local ms: its clock runs within 1 % of the world's
    expect(a.status).toEqual([]);
    await w.run(1100);
    expect(a.status).toEqual([['b', false]]);
    // The receiver gave up too: what it had staged is dropped.
    expect(b.got).toEqual([]);
    expect(String(failed)).toMatch(/stalled/);
  });

  test('with no stored snapshot the transfer fails', async () => {
    const { w, a } = await setup(null);
    a.t.send(snapshotMsg('a', 'b'));
    await w.run(20);
    expect(a.status).toEqual([['b', false]]);
  });

  test('unreachable is reported for a down or cut-off peer, at most once per interval', async () => {
    const { w, net, a, b } = await setup();
    net.block('a', 'b');
    for (let i = 0; i < 10; i++) a.t.send(heartbeat('a', 'b'));
    await w.run(10);
    expect(a.unreachable).toEqual(['b']);
    // Random loss is silent, as on a real network.
    net.heal();
    net.policy = { ...net.policy, dropRate: 1 };
    await w.run(100);
    a.t.send(heartbeat('a', 'b'));
    await w.run(110);
    expect(a.unreachable).toEqual(['b']);
    b.host.crash();
    a.t.send(heartbeat('a', 'b'));
    a.t.send(heartbeat('a', 'b'));
    await w.run(120);
    expect(a.unreachable).toEqual(['b', 'b']);
  });

  test('a stopped transport neither sends nor receives', async () => {
    const { w, a, b } = await setup();
    await b.t.stop();
    a.t.send(heartbeat('a', 'b'));
    await a.t.stop();
    a.t.send(heartbeat('a', 'b'));
    await w.run(10);
    expect(b.got).toEqual([]);
  });
});
