import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { InvalidWriteError } from '../../src/storage/validation.js';
import { EntryType } from '../../src/types.js';
import { entry, indexes, range, snapshot } from './helpers.js';

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

  it('lets an installed snapshot replace the whole log', () => {
    const storage = new MemoryStorage();
    storage.applyDurably({ entries: range(1, 10, 1) });
    storage.applyDurably({ snapshot: snapshot(20, 3), entries: range(21, 22, 3) });
    const state = storage.loadSync();
    expect(state.snapshot).toEqual(snapshot(20, 3));
    expect(indexes(state.entries)).toEqual([21, 22]);
    expect(storage.readSnapshotSync()).toEqual(snapshot(20, 3));
  });

  it('compacts up to compactUpTo but returns only entries after the snapshot', () => {
    const storage = new MemoryStorage();
    storage.applyDurably({ entries: range(1, 10, 1) });
    storage.saveSnapshotSync(snapshot(6, 1), 3);
    expect(indexes(storage.loadSync().entries)).toEqual([7, 8, 9, 10]);
    // Entries 4..6 were kept, so appending right after the log is still contiguous.
    storage.applyDurably({ entries: range(11, 11, 1) });
    storage.saveSnapshotSync(snapshot(11, 1), 11);
    expect(storage.loadSync()).toMatchObject({ snapshot: snapshot(11, 1), entries: [] });
    storage.applyDurably({ entries: range(12, 12, 2) });
    expect(indexes(storage.loadSync().entries)).toEqual([12]);
  });

  it('tells checkers the durable terms and bounds', () => {
    const storage = new MemoryStorage();
    expect([storage.lastIndex(), storage.snapshotIndex(), storage.termAt(0)]).toEqual([0, 0, 0]);
    storage.applyDurably({ entries: [...range(1, 3, 1), ...range(4, 6, 2)] });
    expect([1, 3, 4, 6, 7].map((i) => storage.termAt(i))).toEqual([1, 1, 2, 2, undefined]);
    storage.saveSnapshotSync(snapshot(5, 2), 3);
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
    storage.saveSnapshotSync(snapshot(3, 1), 3);
    expect(() => storage.applyDurably({ entries: range(3, 4, 2) })).toThrow(InvalidWriteError);
    expect(() => storage.saveSnapshotSync(snapshot(2, 1), 0)).toThrow(InvalidWriteError);
    expect(() => storage.saveSnapshotSync(snapshot(9, 1), 0)).toThrow(InvalidWriteError);
    expect(() => storage.saveSnapshotSync(snapshot(4, 1), 5)).toThrow(InvalidWriteError);
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
      const compact = storage.beginSaveSnapshot(snapshot(2, 1), 2);
      expect(storage.pendingWrites).toBe(2);
      storage.discardPendingWrites();
      expect(storage.pendingWrites).toBe(0);
      expect(append()).toBe(false);
      expect(compact()).toBe(false);
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

    it('rejects an invalid async save without changing durable state', async () => {
      const storage = new MemoryStorage();
      await expect(storage.save({ entries: range(2, 2, 1) })).rejects.toThrow(InvalidWriteError);
      await storage.save({ entries: range(1, 1, 1) });
      expect(indexes(storage.loadSync().entries)).toEqual([1]);
    });
  });
});
