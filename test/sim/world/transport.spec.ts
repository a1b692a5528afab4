import type { Message, Snapshot } from '../../../libs/raft/src/index.js';
import { SimNetwork, SimTransport, SimWorld } from './index.js';

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
  stored: Snapshot | null = { meta: { index: 7, term: 1 }, data: Uint8Array.of(1, 2) },
) {
  const w = new SimWorld(1);
  const net = new SimNetwork(w, { minDelayMs: 1, maxDelayMs: 2 });
  const make = (id: string) => {
    const host = w.spawn(id);
    const t = new SimTransport(host, net, { readSnapshot: () => Promise.resolve(stored) });
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

  test('InstallSnapshot carries the stored snapshot and reports success once acknowledged', async () => {
    const { w, a, b } = await setup();
    a.t.send(snapshotMsg('a', 'b'));
    a.t.send(snapshotMsg('a', 'b')); // one transfer per peer at a time
    await w.run(20);
    expect(b.got).toHaveLength(1);
    expect(b.got[0]).toMatchObject({ snapshot: { index: 7, term: 1 }, data: Uint8Array.of(1, 2) });
    expect(a.status).toEqual([['b', true]]);
  });

  test('a snapshot that cannot be delivered reports failure and unreachable', async () => {
    const { w, net, a } = await setup();
    net.block('a', 'b');
    a.t.send(snapshotMsg('a', 'b'));
    await w.run(20);
    expect(a.status).toEqual([['b', false]]);
    expect(a.unreachable).toEqual(['b']);
  });

  test('a snapshot whose acknowledgement is lost fails after the timeout', async () => {
    const { w, net, a, b } = await setup();
    net.block('b', 'a');
    a.t.send(snapshotMsg('a', 'b'));
    await w.run(980); // the timeout is in a's local ms: its clock runs within 1 % of the world's
    expect(b.got).toHaveLength(1);
    expect(a.status).toEqual([]);
    await w.run(1100);
    expect(a.status).toEqual([['b', false]]);
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
