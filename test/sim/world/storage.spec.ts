import { type Entry, EntryType } from '../../../libs/raft/src/index.js';
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

  test('snapshots: saved durably after the delay, read back from the durable state', async () => {
    const { w, storage } = setup();
    void storage.save({ entries: [ent(1), ent(2), ent(3)] });
    await w.run(20);
    void storage.saveSnapshot({ meta: { index: 2, term: 1 }, data: Uint8Array.of(9) }, 1);
    const before = storage.readSnapshot();
    await w.run(29);
    expect(await before).toBeNull();
    await w.run(30);
    const after = storage.readSnapshot();
    await w.run(31);
    expect(await after).toEqual({ meta: { index: 2, term: 1 }, data: Uint8Array.of(9) });
  });
});
