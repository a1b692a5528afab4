import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { InvalidWriteError } from '../../src/storage/validation.js';
import { EntryType, type SnapshotData } from '../../src/types.js';
import {
  bytesOf,
  entry,
  indexes,
  range,
  snapshot,
  streamOf,
  type SnapshotBytes,
} from './helpers.js';

/** Stages s as if received from the leader; the batch that installs it carries the result. */
const received = (storage: MemoryStorage, s: SnapshotBytes) => ({
  meta: s.meta,
  data: storage.receiveSnapshotSync(s.meta, [s.data]),
});
const saveLocal = (storage: MemoryStorage, s: SnapshotBytes, compactUpTo: number) =>
  storage.saveSnapshotSync(s.meta, [s.data], compactUpTo);

describe('MemoryStorage', () => {
  it('starts empty', async () => {
    const storage = new MemoryStorage();
    expect(await storage.load()).toEqual({
      hardState: { term: 0, vote: '', commit: 0 },
      snapshot: null,
      entries: [],
    });
    expect(await storage.readSnapshot()).toBeNull();
  });

  it('round-trips entries and hard state', async () => {
    const storage = new MemoryStorage();
    const entries = [...range(1, 3, 1), { ...entry(4, 2), type: EntryType.Noop }];
    await storage.save({ entries, hardState: { term: 2, vote: 'n2', commit: 3 } });
    const state = await storage.load();
    expect(state.entries).toEqual(entries);
    expect(state.hardState).toEqual({ term: 2, vote: 'n2', commit: 3 });
  });

  it('replaces a conflicting suffix with a shorter or a longer one', () => {
    const storage = new MemoryStorage();
    storage.applyDurably({ entries: range(1, 6, 1) });
    storage.applyDurably({ entries: range(3, 4, 2) });
    expect(storage.loadSync().entries).toEqual([...range(1, 2, 1), ...range(3, 4, 2)]);
    storage.applyDurably({ entries: range(4, 9, 3) });
    expect(storage.loadSync().entries).toEqual([...range(1, 2, 1), entry(3, 2), ...range(4, 9, 3)]);
  });

  it('lets an installed snapshot replace the whole log', async () => {
    const storage = new MemoryStorage();
    storage.applyDurably({ entries: range(1, 10, 1) });
    storage.applyDurably({
      snapshot: received(storage, snapshot(20, 3)),
      entries: range(21, 22, 3),
    });
    const state = storage.loadSync();
    expect(await bytesOf(state.snapshot)).toEqual(snapshot(20, 3));
    expect(indexes(state.entries)).toEqual([21, 22]);
    expect(await bytesOf(storage.readSnapshotSync())).toEqual(snapshot(20, 3));
  });

  it('installs only snapshots it received, once', () => {
    const storage = new MemoryStorage();
    const foreign = new MemoryStorage().receiveSnapshotSync({ index: 5, term: 1 }, []);
    expect(() =>
      storage.applyDurably({ snapshot: { meta: { index: 5, term: 1 }, data: foreign } }),
    ).toThrow(/not received by this storage/);
    const mine = received(storage, snapshot(5, 1));
    expect(() =>
      storage.applyDurably({ snapshot: { ...mine, meta: { index: 6, term: 1 } } }),
    ).toThrow(/received for another/);
    storage.applyDurably({ snapshot: mine });
    expect(() => storage.applyDurably({ snapshot: mine })).toThrow(/not received/);
  });

  it('compacts up to compactUpTo but returns only entries after the snapshot', async () => {
    const storage = new MemoryStorage();
    storage.applyDurably({ entries: range(1, 10, 1) });
    saveLocal(storage, snapshot(6, 1), 3);
    expect(indexes(storage.loadSync().entries)).toEqual([7, 8, 9, 10]);
    // Entries 4..6 were kept, so appending right after the log is still contiguous.
    storage.applyDurably({ entries: range(11, 11, 1) });
    saveLocal(storage, snapshot(11, 1), 11);
    expect(storage.loadSync()).toMatchObject({ entries: [] });
    expect(await bytesOf(storage.loadSync().snapshot)).toEqual(snapshot(11, 1));
    storage.applyDurably({ entries: range(12, 12, 2) });
    expect(indexes(storage.loadSync().entries)).toEqual([12]);
  });

  it('tells checkers the durable terms and bounds', () => {
    const storage = new MemoryStorage();
    expect([storage.lastIndex(), storage.snapshotIndex(), storage.termAt(0)]).toEqual([0, 0, 0]);
    storage.applyDurably({ entries: [...range(1, 3, 1), ...range(4, 6, 2)] });
    expect([1, 3, 4, 6, 7].map((i) => storage.termAt(i))).toEqual([1, 1, 2, 2, undefined]);
    saveLocal(storage, snapshot(5, 2), 3);
    expect([storage.lastIndex(), storage.snapshotIndex()]).toEqual([6, 5]);
    // Below the snapshot the log is compacted, whatever was retained.
    expect([4, 5, 6].map((i) => storage.termAt(i))).toEqual([undefined, 2, 2]);
    const discarded = storage.beginSave({ entries: range(7, 7, 3) });
    expect(storage.lastIndex()).toBe(6);
    storage.discardPendingWrites();
    expect(discarded()).toBe(false);
  });

  it('rejects writes that would leave a hole or rewrite compacted history', () => {
    const storage = new MemoryStorage();
    storage.applyDurably({ entries: range(1, 5, 1) });
    expect(() => storage.applyDurably({ entries: range(7, 8, 1) })).toThrow(InvalidWriteError);
    expect(() => storage.applyDurably({ entries: [entry(6, 1), entry(8, 1)] })).toThrow(
      InvalidWriteError,
    );
    saveLocal(storage, snapshot(3, 1), 3);
    expect(() => storage.applyDurably({ entries: range(3, 4, 2) })).toThrow(InvalidWriteError);
    // A local snapshot older than the stored one is dropped: one from the leader superseded it.
    expect(saveLocal(storage, snapshot(2, 1), 0)).toBe(false);
    expect(() => saveLocal(storage, snapshot(9, 1), 0)).toThrow(InvalidWriteError);
    expect(() => saveLocal(storage, snapshot(4, 1), 5)).toThrow(InvalidWriteError);
    expect(indexes(storage.loadSync().entries)).toEqual([4, 5]);
  });

  it('does not alias the caller or the loaded state', () => {
    const storage = new MemoryStorage();
    const written = entry(1, 1, 'abc');
    storage.applyDurably({ entries: [written] });
    written.data[0] = 0;
    const loaded = storage.loadSync();
    loaded.entries[0]!.data[1] = 0;
    loaded.entries.push(entry(2, 1));
    expect(storage.loadSync().entries).toEqual([entry(1, 1, 'abc')]);
  });

  describe('crash model', () => {
    it('makes a save durable only when its promise resolves', async () => {
      const storage = new MemoryStorage();
      const saved = storage.save({ entries: range(1, 2, 1) });
      expect(storage.loadSync().entries).toEqual([]);
      await saved;
      expect(indexes(storage.loadSync().entries)).toEqual([1, 2]);
    });

    it('copies a batch when the write begins', () => {
      const storage = new MemoryStorage();
      const entries = range(1, 1, 1);
      const complete = storage.beginSave({ entries });
      entries[0]!.data[0] = 0;
      expect(complete()).toBe(true);
      expect(storage.loadSync().entries).toEqual([entry(1, 1)]);
    });

    it('loses writes begun but not completed before a crash', () => {
      const storage = new MemoryStorage();
      storage.applyDurably({
        entries: range(1, 2, 1),
        hardState: { term: 1, vote: '', commit: 0 },
      });
      const append = storage.beginSave({ entries: range(3, 4, 1) });
      const id = storage.openStaging();
      const chunk = storage.beginStageChunk(id, Uint8Array.of(1));
      const compact = storage.beginCommitSnapshot(id, { index: 2, term: 1 }, 2, [chunk.copy]);
      expect(storage.pendingWrites).toBe(3);
      storage.discardPendingWrites();
      expect(storage.pendingWrites).toBe(0);
      expect(append()).toBe(false);
      expect(chunk.complete()).toBe(false);
      expect(compact.complete()).toBe(false);
      expect(storage.loadSync()).toEqual({
        hardState: { term: 1, vote: '', commit: 0 },
        snapshot: null,
        entries: range(1, 2, 1),
      });
      // Writes begun after the crash proceed normally.
      expect(storage.beginSave({ entries: range(3, 3, 2) })()).toBe(true);
      expect(indexes(storage.loadSync().entries)).toEqual([1, 2, 3]);
    });

    it('never settles a save that a crash discarded', async () => {
      const storage = new MemoryStorage();
      let settled = false;
      void storage.save({ entries: range(1, 1, 1) }).finally(() => (settled = true));
      storage.discardPendingWrites();
      await storage.save({ entries: range(1, 1, 2) });
      expect(settled).toBe(false);
      expect(storage.loadSync().entries).toEqual([entry(1, 2)]);
    });

    it('completes writes in the order they began', () => {
      const storage = new MemoryStorage();
      const first = storage.beginSave({ entries: range(1, 1, 1) });
      const second = storage.beginSave({ entries: range(2, 2, 1) });
      expect(() => second()).toThrow(/completed before/);
      expect(first()).toBe(true);
      expect(second()).toBe(true);
      expect(() => second()).toThrow(/twice/);
    });

    it('keeps the previous snapshot whole when a crash interrupts a chunked save', async () => {
      const storage = new MemoryStorage();
      storage.applyDurably({ entries: range(1, 9, 1) });
      saveLocal(storage, snapshot(3, 1, 50), 2);
      const id = storage.openStaging();
      const chunks = [1, 2, 3].map((n) => storage.beginStageChunk(id, new Uint8Array(n)));
      const commit = storage.beginCommitSnapshot(
        id,
        { index: 8, term: 1 },
        8,
        chunks.map((c) => c.copy),
      );
      // Two chunks landed, the rest and the commit did not.
      expect(chunks[0]!.complete() && chunks[1]!.complete()).toBe(true);
      storage.discardPendingWrites();
      expect(commit.complete()).toBe(false);
      expect(await bytesOf(storage.readSnapshotSync())).toEqual(snapshot(3, 1, 50));
      expect(indexes(storage.loadSync().entries)).toEqual([4, 5, 6, 7, 8, 9]);
      // What was staged is garbage at the restart.
      expect(storage.stagedSnapshots).toBe(1);
      storage.collectGarbage();
      expect(storage.stagedSnapshots).toBe(0);
    });

    it('stores a streamed snapshot only after all its chunks, and compacts with it', async () => {
      const storage = new MemoryStorage();
      await storage.save({ entries: range(1, 9, 1) });
      const data = snapshot(7, 1, 2500).data;
      const pulled: number[] = [];
      async function* source() {
        for await (const c of streamOf(data, 1000)) {
          pulled.push(c.length);
          // Not stored until the last chunk is written.
          expect(storage.snapshotIndex()).toBe(0);
          yield c;
        }
      }
      expect(await storage.saveSnapshot({ index: 7, term: 1 }, source(), 5)).toBe(true);
      expect(pulled).toEqual([1000, 1000, 500]);
      expect(await bytesOf(await storage.readSnapshot())).toEqual(snapshot(7, 1, 2500));
      expect(indexes(storage.loadSync().entries)).toEqual([8, 9]);
      expect(storage.stagedSnapshots).toBe(0);
    });

    it('drops what it staged when the source of a snapshot fails, keeping the previous one', async () => {
      const storage = new MemoryStorage();
      await storage.save({ entries: range(1, 9, 1) });
      await storage.saveSnapshot({ index: 2, term: 1 }, streamOf(Uint8Array.of(7)), 0);
      async function* failing() {
        yield Uint8Array.of(1);
        throw new Error('state machine failed');
      }
      await expect(storage.saveSnapshot({ index: 5, term: 1 }, failing(), 5)).rejects.toThrow(
        'state machine failed',
      );
      await expect(storage.receiveSnapshot({ index: 9, term: 1 }, failing())).rejects.toThrow(
        'state machine failed',
      );
      expect(storage.stagedSnapshots).toBe(0);
      expect(await bytesOf(await storage.readSnapshot())).toEqual({
        meta: { index: 2, term: 1 },
        data: Uint8Array.of(7),
      });
    });

    it('stores nothing for a local snapshot that a received one overtook', async () => {
      const storage = new MemoryStorage();
      await storage.save({ entries: range(1, 9, 1) });
      const local = storage.saveSnapshot({ index: 6, term: 1 }, streamOf(new Uint8Array(10), 2), 6);
      const r = await storage.receiveSnapshot({ index: 20, term: 2 }, streamOf(Uint8Array.of(2)));
      await storage.save({ snapshot: { meta: { index: 20, term: 2 }, data: r } });
      expect(await local).toBe(false);
      expect(storage.snapshotIndex()).toBe(20);
      expect(storage.stagedSnapshots).toBe(0);
    });

    it('discards received snapshots not installed, and older ones once a newer is stored', async () => {
      const storage = new MemoryStorage();
      await storage.save({ entries: range(1, 9, 1) });
      const receive = (index: number): Promise<SnapshotData> =>
        storage.receiveSnapshot({ index, term: 1 }, streamOf(Uint8Array.of(index)));
      const [a, b, c] = [await receive(12), await receive(15), await receive(30)];
      expect(storage.stagedSnapshots).toBe(3);
      await storage.discardSnapshot(a);
      expect(storage.stagedSnapshots).toBe(2);
      await storage.discardSnapshot(a); // no-op, as for the stored snapshot's data
      await storage.discardSnapshot((await storage.readSnapshot())?.data ?? a);
      await storage.save({ snapshot: { meta: { index: 20, term: 1 }, data: await receive(20) } });
      // b (15) can never be installed now; c (30) still can.
      expect(storage.stagedSnapshots).toBe(1);
      await expect(bytesOf({ meta: { index: 15, term: 1 }, data: b })).rejects.toThrow(
        /no longer stored/,
      );
      expect((await bytesOf({ meta: { index: 30, term: 1 }, data: c }))?.data).toEqual(
        Uint8Array.of(30),
      );
    });

    it('rejects an invalid async save without changing durable state', async () => {
      const storage = new MemoryStorage();
      await expect(storage.save({ entries: range(2, 2, 1) })).rejects.toThrow(InvalidWriteError);
      await storage.save({ entries: range(1, 1, 1) });
      expect(indexes(storage.loadSync().entries)).toEqual([1]);
    });
  });
});
