// RaftNode takes snapshots in the background and installs streamed ones.
import { RaftNode } from '../../src/node.js';
import type { StateMachine } from '../../src/ports.js';
import type { SnapshotMeta } from '../../src/types.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { type Entry, EntryType, type Message } from '../../src/types.js';
import { LocalHub } from './local-transport.js';
import { waitFor } from '../../../testing/src/wait.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * Registers (key=value) with copy-on-write snapshots: snapshot() captures the current map and
 * marks it shared; the next apply() copies it before writing, so the map a snapshot is reading
 * never changes. One chunk per register, so a snapshot spans many turns of the event loop.
 */
class Registers implements StateMachine<number> {
  map = new Map<string, string>();
  private shared = false;
  applied = 0;
  /** When false, apply() writes the shared map in place (a broken copy-on-write). */
  copyOnWrite = true;

  apply(e: Entry): number {
    this.applied = e.index;
    if (e.type !== EntryType.Normal) return e.index;
    const [k, v] = dec(e.data).split('=') as [string, string];
    if (this.shared && this.copyOnWrite) {
      this.map = new Map(this.map);
      this.shared = false;
    }
    this.map.set(k, v);
    return e.index;
  }

  snapshot(): Iterable<Uint8Array> {
    const view = this.map;
    const applied = this.applied;
    this.shared = true;
    return (function* () {
      yield enc(`${applied}\n`);
      for (const [k, v] of view) yield enc(`${k}=${v}\n`);
    })();
  }

  async restore(chunks: AsyncIterable<Uint8Array>, meta: SnapshotMeta): Promise<void> {
    let text = '';
    for await (const c of chunks) text += dec(c);
    const [applied, ...lines] = text.trimEnd().split('\n');
    if (Number(applied) !== meta.index)
      throw new Error(`snapshot of ${applied}, not ${meta.index}`);
    this.map = new Map(lines.map((l) => l.split('=') as [string, string]));
    this.shared = false;
    this.applied = meta.index;
  }
}

/** A MemoryStorage whose snapshot saves stop after their first chunk until the gate opens. */
class GatedStorage extends MemoryStorage {
  private opened = false;
  private open: () => void = () => {};
  private readonly gate = new Promise<void>((resolve) => (this.open = resolve));
  saves = { started: 0, finished: 0 };

  release(): void {
    this.opened = true;
    this.open();
  }

  override async saveSnapshot(
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
    compactUpTo: number,
  ): Promise<boolean> {
    this.saves.started++;
    const gate = this.gate;
    const opened = () => this.opened;
    async function* held() {
      let n = 0;
      for await (const c of chunks) {
        if (n++ === 1 && !opened()) await gate;
        yield c;
      }
    }
    try {
      return await super.saveSnapshot(meta, held(), compactUpTo);
    } finally {
      this.saves.finished++;
    }
  }
}

const ids = ['a', 'b', 'c'];

describe('RaftNode snapshots', () => {
  let nodes: RaftNode<number>[] = [];
  let hub: LocalHub;
  const sms = new Map<string, Registers>();
  const storages = new Map<string, GatedStorage>();

  const start = (id: string, i: number, snapshotEvery = 10) => {
    const sm = new Registers();
    sms.set(id, sm);
    const storage = storages.get(id) ?? new GatedStorage();
    storages.set(id, storage);
    return RaftNode.start<number>({
      id,
      voters: ids,
      storage,
      transport: hub.transport(id, storage),
      stateMachine: sm,
      seed: i + 1,
      snapshotDue: (since) => since >= snapshotEvery,
      snapshotRetainEntries: 2,
    });
  };

  beforeEach(async () => {
    hub = new LocalHub();
    storages.clear();
    nodes = await Promise.all(ids.map((id, i) => start(id, i)));
  });

  afterEach(async () => {
    for (const s of storages.values()) s.release();
    await Promise.all(nodes.map((n) => n.stop()));
  });

  const leader = () => waitFor('a leader', () => nodes.find((n) => n.isLeader()));
  const write = (n: RaftNode<number>, k: string, v: string) => n.propose(enc(`${k}=${v}`));

  test('the leader keeps sending heartbeats and committing while its snapshot is being saved', async () => {
    const l = await leader();
    const storage = storages.get(l.id)!;
    for (let k = 0; k < 12; k++) await write(l, `k${k}`, 'v1');
    await waitFor('a snapshot save to start', () => storage.saves.started === 1);
    const heartbeatsBefore = hub.sent.filter((m) => m.from === l.id && m.type === 'Heartbeat');
    // The save is held after its first chunk: everything else must go on meanwhile.
    await waitFor('heartbeats during the save', () => {
      const now = hub.sent.filter((m: Message) => m.from === l.id && m.type === 'Heartbeat');
      return now.length >= heartbeatsBefore.length + 2 * (ids.length - 1);
    });
    const during = await write(l, 'k0', 'v2');
    await waitFor('the followers to apply it', () =>
      ids.every((id) => sms.get(id)!.applied >= during.index),
    );
    expect(storage.saves).toEqual({ started: 1, finished: 0 });
    expect(l.counters.snapshotsTaken).toBe(0);
    storage.release();
    await waitFor('the snapshot stored', () => l.counters.snapshotsTaken === 1);
    expect(l.isLeader()).toBe(true);
  });

  test('what a snapshot saves is the state when it was taken, whatever is applied meanwhile', async () => {
    const l = await leader();
    const storage = storages.get(l.id)!;
    const taken: SnapshotMeta[] = [];
    l.on('snapshot', (meta) => taken.push(meta));
    const firstWrites = new Map<string, number>();
    for (let k = 0; k < 12; k++) firstWrites.set(`k${k}`, (await write(l, `k${k}`, 'v1')).index);
    await waitFor('a snapshot save to start', () => storage.saves.started === 1);
    const at = sms.get(l.id)!.applied;
    // Overwrite registers while the snapshot is being written: fewer entries than a snapshot
    // interval in all since it began, so that no second snapshot replaces it before it is read.
    for (let k = 0; k < 5; k++) await write(l, `k${k}`, 'v2');
    storage.release();
    await waitFor('the snapshot stored', () => taken.length === 1);
    expect(taken[0]!.index).toBeLessThanOrEqual(at);
    const stored = (await storage.readSnapshot())!;
    const copy = new Registers();
    await copy.restore(stored.data.chunks(), stored.meta);
    expect(copy.applied).toBe(taken[0]!.index);
    // Exactly the registers written up to the snapshot's index, with their first values.
    const expected = [...firstWrites].filter(([, index]) => index <= taken[0]!.index);
    expect(expected.length).toBeGreaterThan(0);
    expect(copy.map).toEqual(new Map(expected.map(([k]) => [k, 'v1'])));
  });

  test('a follower that was down catches up by a streamed snapshot, with no leader change', async () => {
    const l = await leader();
    const follower = nodes.find((n) => n !== l)!;
    const term = l.status().term;
    for (const s of storages.values()) s.release();
    await follower.stop();
    nodes = nodes.filter((n) => n !== follower);
    for (let k = 0; k < 40; k++) await write(l, `k${k % 15}`, `v${k}`);
    await waitFor('the log compacted past the follower', () => l.counters.snapshotsTaken >= 2);
    const back = await start(follower.id, 9);
    nodes.push(back);
    const installed: number[] = [];
    back.on('snapshotInstalled', (_meta, bytes) => installed.push(bytes));
    await waitFor('the follower to catch up', () => back.applied === l.applied);
    expect(installed.length).toBeGreaterThanOrEqual(1);
    expect(installed[0]).toBeGreaterThan(0);
    expect(sms.get(follower.id)!.map).toEqual(sms.get(l.id)!.map);
    expect(l.status().term).toBe(term);
    expect(l.isLeader()).toBe(true);
    // What the follower received was installed: nothing is left staged.
    expect(storages.get(follower.id)!.stagedSnapshots).toBe(0);
  });

  test('a received snapshot the core does not take is discarded from storage', async () => {
    const l = await leader();
    const f = nodes.find((n) => n !== l)!;
    await write(l, 'k', 'v');
    await waitFor('the follower to apply', () => f.applied === l.applied);
    // A retransmission of a snapshot the follower already covers (index within its commit).
    const storage = storages.get(f.id)!;
    const data = await storage.receiveSnapshot({ index: 1, term: 1 }, (async function* () {})());
    expect(storage.stagedSnapshots).toBe(1);
    const deliver = (hub as unknown as { peers: Map<string, { onMessage(m: Message): void }> })
      .peers;
    deliver.get(f.id)!.onMessage({
      type: 'InstallSnapshot',
      from: l.id,
      to: f.id,
      term: l.status().term,
      snapshot: { index: 1, term: 1 },
      data,
    });
    await waitFor('the staged data deleted', () => storage.stagedSnapshots === 0);
  });
});
