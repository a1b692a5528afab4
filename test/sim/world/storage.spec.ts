import { type Entry, EntryType, readAll, snapshotDataOf } from '../../../libs/raft/src/index.js';
import { SimDisk, SimWorld } from './index.js';

const ent = (index: number, term = 1): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: Uint8Array.of(index),
});

function setup(crashCompletes = 0) {
  const w = new SimWorld(5);
  const disk = new SimDisk(w, { minDelayMs: 10, maxDelayMs: 10, crashCompletes });
  const host = w.spawn('n1');
  return { w, disk, host, storage: disk.storage(host) };
}

describe('SimDisk and SimStorage', () => {
  test('a synced write is durable and acknowledged only after the disk delay', async () => {
    const { w, disk, storage } = setup();
    let acked = -1;
    void storage
      .save({ entries: [ent(1)], hardState: { term: 1, vote: 'n1', commit: 0 } })
      .then(() => (acked = w.now));
    await w.run(9);
    expect(disk.mem.lastIndex()).toBe(0);
    await w.run(20);
    expect(acked).toBe(10);
    expect(disk.mem.lastIndex()).toBe(1);
    expect(disk.mem.loadSync().hardState).toEqual({ term: 1, vote: 'n1', commit: 0 });
  });

  test('writes complete in issue order, and report to the checker hook as they land', async () => {
    const { w, disk, storage } = setup();
    const landed: number[] = [];
    disk.onDurable = (d) => d.kind === 'save' && landed.push(d.batch.entries![0]!.index);
    disk.policy = { ...disk.policy, minDelayMs: 1, maxDelayMs: 50 };
    for (let i = 1; i <= 20; i++) void storage.save({ entries: [ent(i)] });
    await w.run(1000);
    expect(landed).toEqual([...Array(20).keys()].map((i) => i + 1));
  });

  test('a crash loses the writes in flight, and a restarted process loads what was durable', async () => {
    const { w, disk, host, storage } = setup(0);
    await (async () => {
      void storage.save({ entries: [ent(1)] });
      await w.run(15);
      let settled = false;
      void storage.save({ entries: [ent(2)] }).then(() => (settled = true));
      w.schedule(5, () => host.crash());
      await w.run(100);
      expect(settled).toBe(false); // a dead process never learns the outcome
    })();
    const host2 = w.spawn('n1');
    const state = disk.storage(host2).load();
    await w.run(101);
    expect((await state).entries.map((e) => e.index)).toEqual([1]);
    expect(disk.stats.lostInCrash).toBe(1);
  });

  test('a crash may complete a prefix of the writes in flight, never a later one alone', async () => {
    let completedSome = false;
    for (let seed = 1; seed <= 30; seed++) {
      const w = new SimWorld(seed);
      const disk = new SimDisk(w, { minDelayMs: 10, maxDelayMs: 10, crashCompletes: 0.5 });
      const host = w.spawn('n1');
      const storage = disk.storage(host);
      for (let i = 1; i <= 4; i++) void storage.save({ entries: [ent(i)] });
      w.schedule(5, () => host.crash());
      await w.run(100);
      const kept = disk.mem.loadSync().entries.map((e) => e.index);
      expect(kept).toEqual([...Array(kept.length).keys()].map((i) => i + 1));
      if (kept.length > 0) completedSome = true;
    }
    expect(completedSome).toBe(true);
  });

  test('an unsynced write is acknowledged at once but durable only with the next synced one', async () => {
    const { w, disk, host, storage } = setup(0);
    void storage.save({ entries: [ent(1)], hardState: { term: 1, vote: '', commit: 0 } });
    await w.run(20);
    let acked = false;
    void storage
      .save({ hardState: { term: 1, vote: '', commit: 1 }, sync: false })
      .then(() => (acked = true));
    await w.run(21);
    expect(acked).toBe(true);
    expect(disk.mem.loadSync().hardState.commit).toBe(0);
    host.crash();
    expect(disk.mem.loadSync().hardState.commit).toBe(0);
  });

  test('an unsynced write no synced one follows is written back after writebackMs', async () => {
    const { w, disk, storage } = setup(0);
    void storage.save({ entries: [ent(1)], hardState: { term: 1, vote: '', commit: 0 } });
    await w.run(20);
    void storage.save({ hardState: { term: 1, vote: '', commit: 1 }, sync: false });
    await w.run(20 + disk.policy.writebackMs - 1);
    expect(disk.mem.hardStateSync().commit).toBe(0);
    await w.run(20 + disk.policy.writebackMs);
    expect(disk.mem.hardStateSync().commit).toBe(1);
    expect(disk.pendingWrites).toBe(0);
  });

  test('crashDuringNextWrite fires while the next matching write is in flight', async () => {
    const { w, disk, host, storage } = setup(0);
    let crashedAt = -1;
    disk.crashDuringNextWrite = {
      match: (d, durable) =>
        d.kind === 'save' &&
        d.batch.hardState !== undefined &&
        d.batch.hardState.vote !== durable.vote,
      crash: () => {
        crashedAt = w.now;
        host.crash();
      },
    };
    void storage.save({ entries: [ent(1)] });
    await w.run(20);
    expect(crashedAt).toBe(-1);
    let acked = false;
    void storage
      .save({ hardState: { term: 1, vote: 'n2', commit: 0 }, sync: false })
      .then(() => (acked = true));
    await w.run(100);
    // Acknowledged (no fsync asked), then lost: the crash came before any synced write.
    expect(acked).toBe(true);
    expect(crashedAt).toBeGreaterThanOrEqual(20);
    expect(crashedAt).toBeLessThanOrEqual(30);
    expect(disk.mem.hardStateSync().vote).toBe('');
    expect(disk.mem.lastIndex()).toBe(1);
  });

  test('snapshots: chunks staged, then stored durably by a synced write; read back in chunks', async () => {
    const { w, disk, storage } = setup();
    const kinds: string[] = [];
    disk.onDurable = (d) => kinds.push(d.kind);
    void storage.save({ entries: [ent(1), ent(2), ent(3)] });
    await w.run(20);
    let stored: boolean | undefined;
    void storage
      .saveSnapshot({ index: 2, term: 1 }, snapshotDataOf(Uint8Array.of(9, 8, 7), 2).chunks(), 1)
      .then((s) => (stored = s));
    const before = storage.readSnapshot();
    await w.run(25);
    expect(await before).toBeNull();
    expect(stored).toBeUndefined();
    await w.run(40);
    expect(stored).toBe(true);
    expect(kinds).toEqual(['save', 'snapshotChunk', 'snapshotChunk', 'snapshot']);
    const after = storage.readSnapshot();
    await w.run(41);
    const snap = (await after)!;
    expect(snap.meta).toEqual({ index: 2, term: 1 });
    expect(await readAll(snap.data.chunks())).toEqual(Uint8Array.of(9, 8, 7));
  });

  test('a crash in the middle of a snapshot save keeps the previous snapshot', async () => {
    const { w, disk, storage, host } = setup();
    void storage.save({ entries: [ent(1), ent(2), ent(3)] });
    await w.run(20);
    void storage.saveSnapshot({ index: 1, term: 1 }, snapshotDataOf(Uint8Array.of(1)).chunks(), 0);
    await w.run(40);
    expect(disk.mem.snapshotIndex()).toBe(1);
    disk.crashDuringNextWrite = {
      match: (d) => d.kind === 'snapshotChunk',
      crash: () => host.crash(),
    };
    void storage.saveSnapshot(
      { index: 3, term: 1 },
      snapshotDataOf(new Uint8Array(9), 3).chunks(),
      3,
    );
    await w.run(100);
    expect(host.crashed).toBe(true);
    expect(disk.mem.snapshotIndex()).toBe(1);
    // The next process finds the previous snapshot whole, and no staged garbage.
    const next = disk.storage(w.spawn('n1'));
    const state = next.load();
    await w.run(101);
    const loaded = await state;
    expect(await readAll(loaded.snapshot!.data.chunks())).toEqual(Uint8Array.of(1));
    expect(disk.mem.stagedSnapshots).toBe(0);
    expect(loaded.entries.map((e) => e.index)).toEqual([2, 3]);
  });

  test('a received snapshot is staged chunk by chunk and installed by a save', async () => {
    const { w, disk, storage } = setup();
    const meta = { index: 5, term: 2 };
    const received = storage.receiveSnapshot(
      meta,
      snapshotDataOf(Uint8Array.of(4, 5, 6), 1).chunks(),
    );
    await w.run(5);
    const data = await received;
    expect(disk.mem.stagedSnapshots).toBe(1);
    expect(disk.mem.snapshotIndex()).toBe(0);
    void storage.save({ snapshot: { meta, data }, hardState: { term: 2, vote: '', commit: 5 } });
    await w.run(30);
    expect(disk.mem.snapshotIndex()).toBe(5);
    expect(disk.mem.stagedSnapshots).toBe(0);
    expect(await readAll(data.chunks())).toEqual(Uint8Array.of(4, 5, 6));
  });
});
