import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageCorruptionError } from '../../src/storage.js';
import {
  HARD_STATE_KEY,
  SNAPSHOT_CHUNK_RANGE,
  SNAPSHOT_CHUNK_SIZE,
  SNAPSHOT_META_KEY,
  logKey,
  snapshotChunkKey,
} from '../../src/storage/rocksdb-format.js';
import { RocksDbStorage } from '../../src/storage/rocksdb-storage.js';
import { InvalidWriteError } from '../../src/storage/validation.js';
import { EntryType } from '../../src/types.js';
import { entry, flipBits, indexes, promised, range, snapshot, withRawDb } from './helpers.js';

describe('RocksDbStorage', () => {
  let dir: string;
  let storage: RocksDbStorage | null = null;

  const open = async (): Promise<RocksDbStorage> => {
    storage = await RocksDbStorage.open(dir, 'node-a');
    return storage;
  };
  const reopen = async (): Promise<RocksDbStorage> => {
    await storage?.close();
    return open();
  };
  const closeStorage = async (): Promise<void> => {
    await storage?.close();
    storage = null;
  };
  const loadError = async (): Promise<StorageCorruptionError> => {
    const error: unknown = await open()
      .then((s) => s.load())
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(StorageCorruptionError);
    return error as StorageCorruptionError;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'raft-rocksdb-'));
  });

  afterEach(async () => {
    await closeStorage();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts empty', async () => {
    const s = await open();
    expect(await s.load()).toEqual({
      hardState: { term: 0, vote: '', commit: 0 },
      snapshot: null,
      entries: [],
    });
    expect(await s.readSnapshot()).toBeNull();
  });

  it('round-trips entries, hard state and snapshot across a restart', async () => {
    let s = await open();
    const entries = [...range(1, 3, 1), { ...entry(4, 2 ** 40), type: EntryType.Noop }];
    entries.push({ index: 5, term: 2 ** 40, type: EntryType.Normal, data: new Uint8Array() });
    await s.save({ entries, hardState: { term: 2 ** 40, vote: 'nöde-b', commit: 3 } });
    await s.saveSnapshot(snapshot(2, 1), 1);
    const before = await s.load();
    expect(before).toEqual({
      hardState: { term: 2 ** 40, vote: 'nöde-b', commit: 3 },
      snapshot: snapshot(2, 1),
      entries: entries.slice(2),
    });
    s = await reopen();
    expect(await s.load()).toEqual(before);
    expect(await s.readSnapshot()).toEqual(snapshot(2, 1));
  });

  it('overwrites a conflicting suffix with a shorter and with a longer one', async () => {
    let s = await open();
    await s.save({ entries: range(1, 6, 1) });
    await s.save({ entries: range(3, 4, 2) });
    expect((await s.load()).entries).toEqual([...range(1, 2, 1), ...range(3, 4, 2)]);
    s = await reopen();
    expect((await s.load()).entries).toEqual([...range(1, 2, 1), ...range(3, 4, 2)]);
    await s.save({ entries: range(4, 9, 3) });
    s = await reopen();
    expect((await s.load()).entries).toEqual([...range(1, 2, 1), entry(3, 2), ...range(4, 9, 3)]);
  });

  it('lets an installed snapshot replace the whole log', async () => {
    let s = await open();
    await s.save({ entries: range(1, 10, 1) });
    await s.save({
      snapshot: snapshot(20, 3),
      entries: range(21, 22, 3),
      hardState: { term: 3, vote: '', commit: 20 },
    });
    s = await reopen();
    const state = await s.load();
    expect(state.snapshot).toEqual(snapshot(20, 3));
    expect(indexes(state.entries)).toEqual([21, 22]);
    expect(state.hardState.commit).toBe(20);
    await closeStorage();
    await withRawDb(dir, async (db) => {
      await expect(promised<Buffer>((cb) => db.get(logKey(5), cb))).rejects.toThrow(/NotFound/);
    });
  });

  it('compacts the log when saving a local snapshot', async () => {
    let s = await open();
    await s.save({ entries: range(1, 10, 1) });
    await s.saveSnapshot(snapshot(6, 1), 3);
    s = await reopen();
    expect(indexes((await s.load()).entries)).toEqual([7, 8, 9, 10]);
    await s.save({ entries: range(11, 11, 1) });
    await s.saveSnapshot(snapshot(11, 1), 11);
    s = await reopen();
    expect(await s.load()).toMatchObject({ snapshot: snapshot(11, 1), entries: [] });
    await s.save({ entries: range(12, 12, 2) });
    s = await reopen();
    expect(indexes((await s.load()).entries)).toEqual([12]);
    await closeStorage();
    await withRawDb(dir, async (db) => {
      await expect(promised<Buffer>((cb) => db.get(logKey(3), cb))).rejects.toThrow(/NotFound/);
    });
  });

  it('stores a large snapshot in chunks and drops stale chunks when replaced', async () => {
    let s = await open();
    const big = snapshot(5, 1, 2 * SNAPSHOT_CHUNK_SIZE + 17);
    await s.save({ snapshot: big });
    s = await reopen();
    // Jest's deep equality walks a typed array element by element: seconds for megabytes.
    const read = await s.readSnapshot();
    expect(read?.meta).toEqual(big.meta);
    expect(Buffer.from(read?.data ?? []).equals(big.data)).toBe(true);
    await s.save({ snapshot: snapshot(9, 2, 10) });
    s = await reopen();
    expect(await s.readSnapshot()).toEqual(snapshot(9, 2, 10));
    await closeStorage();
    await withRawDb(dir, async (db) => {
      const it = db.iterator({ ...SNAPSHOT_CHUNK_RANGE, values: false });
      const keys: Buffer[] = [];
      for (;;) {
        const key = await promised<Buffer | undefined>((cb) => it.next(cb));
        if (key === undefined) break;
        keys.push(key);
      }
      await promised((cb) => it.end(cb));
      expect(keys).toEqual([snapshotChunkKey(0)]);
    });
  });

  it('applies writes issued without waiting in call order, as encoded at call time', async () => {
    const s = await open();
    const mutable = range(4, 4, 1);
    const writes = [
      s.save({ entries: range(1, 6, 1) }),
      s.save({ entries: mutable, hardState: { term: 1, vote: '', commit: 1 } }),
      s.saveSnapshot(snapshot(2, 1), 1),
      s.save({ entries: range(5, 7, 2) }),
      s.save({}),
    ];
    mutable[0]!.data.fill(0);
    await Promise.all(writes);
    expect((await s.load()).entries).toEqual([entry(3, 1), entry(4, 1), ...range(5, 7, 2)]);
  });

  it('rejects invalid writes and stays usable', async () => {
    const s = await open();
    await s.save({ entries: range(1, 3, 1) });
    await expect(s.save({ entries: range(5, 5, 1) })).rejects.toThrow(InvalidWriteError);
    await expect(s.saveSnapshot(snapshot(4, 1), 0)).rejects.toThrow(InvalidWriteError);
    await s.save({ entries: range(4, 4, 1) });
    expect(indexes((await s.load()).entries)).toEqual([1, 2, 3, 4]);
  });

  it('refuses calls after close', async () => {
    const s = await open();
    await closeStorage();
    await expect(s.load()).rejects.toThrow(/closed/);
  });

  describe('corruption', () => {
    beforeEach(async () => {
      const s = await open();
      await s.save({ entries: range(1, 5, 1), hardState: { term: 1, vote: 'x', commit: 2 } });
      await closeStorage();
    });

    it('detects a checksum mismatch in a log entry', async () => {
      await withRawDb(dir, async (db) => {
        const value = await promised<Buffer>((cb) => db.get(logKey(3), cb));
        flipBits(value, value.length - 1, 0x01);
        await promised((cb) => db.put(logKey(3), value, cb));
      });
      const error = await loadError();
      expect(error).toMatchObject({ nodeId: 'node-a', location: dir, index: 3 });
      expect(error.message).toContain('node-a');
      expect(error.message).toContain(dir);
      expect(error.message).toContain('log index 3');
      expect(error.message).toContain('checksum');
    });

    it('detects a valid value stored under the wrong index', async () => {
      await withRawDb(dir, async (db) => {
        const value = await promised<Buffer>((cb) => db.get(logKey(4), cb));
        await promised((cb) => db.put(logKey(3), value, cb));
      });
      expect(await loadError()).toMatchObject({ index: 3 });
    });

    it('detects a truncated entry', async () => {
      await withRawDb(dir, (db) => promised((cb) => db.put(logKey(2), Buffer.from([1, 2]), cb)));
      expect(await loadError()).toMatchObject({ index: 2 });
    });

    it('detects a gap in the log', async () => {
      await withRawDb(dir, (db) => promised((cb) => db.del(logKey(3), cb)));
      const error = await loadError();
      expect(error).toMatchObject({ nodeId: 'node-a', location: dir, index: 3 });
      expect(error.message).toMatch(/missing/);
    });

    it('detects a log that does not start where it should', async () => {
      await withRawDb(dir, (db) => promised((cb) => db.del(logKey(1), cb)));
      expect(await loadError()).toMatchObject({ index: 1 });
    });

    it('detects a commit index beyond the stored log: committed entries were lost', async () => {
      const s = await open();
      await s.save({ hardState: { term: 1, vote: 'x', commit: 5 } });
      await closeStorage();
      // The tail of the log vanishes (say, a disk that acknowledged writes it never made).
      await withRawDb(dir, async (db) => {
        await promised((cb) => db.del(logKey(5), cb));
        await promised((cb) => db.del(logKey(4), cb));
      });
      const error = await loadError();
      expect(error).toMatchObject({ nodeId: 'node-a', location: dir, index: 4 });
      expect(error.message).toContain('node-a');
      expect(error.message).toContain(dir);
      expect(error.message).toContain('commit index 5 is beyond the last stored index 3');
    });

    it('counts the snapshot as stored: a log compacted up to the commit index loads', async () => {
      const s = await open();
      await s.save({ hardState: { term: 1, vote: 'x', commit: 5 } });
      await s.saveSnapshot(snapshot(5, 1), 5);
      expect(await (await reopen()).load()).toMatchObject({
        hardState: { commit: 5 },
        snapshot: { meta: { index: 5 } },
        entries: [],
      });
    });

    it('detects a corrupt hard state', async () => {
      await withRawDb(dir, async (db) => {
        const value = await promised<Buffer>((cb) => db.get(HARD_STATE_KEY, cb));
        flipBits(value, 5, 0x80);
        await promised((cb) => db.put(HARD_STATE_KEY, value, cb));
      });
      const error = await loadError();
      expect(error).toMatchObject({ location: dir, index: null });
      expect(error.message).toMatch(/hard state/);
    });

    it('detects corrupt snapshot metadata and snapshot data', async () => {
      let s = await open();
      await s.saveSnapshot(snapshot(4, 1, 100), 2);
      await closeStorage();
      await withRawDb(dir, async (db) => {
        const value = await promised<Buffer>((cb) => db.get(snapshotChunkKey(0), cb));
        flipBits(value, 50, 0xff);
        await promised((cb) => db.put(snapshotChunkKey(0), value, cb));
      });
      expect((await loadError()).message).toMatch(/snapshot chunk 0/);
      s = storage as unknown as RocksDbStorage;
      await expect(s.readSnapshot()).rejects.toThrow(StorageCorruptionError);
      await closeStorage();
      await withRawDb(dir, (db) =>
        promised((cb) => db.put(SNAPSHOT_META_KEY, Buffer.alloc(36), cb)),
      );
      await expect(open()).rejects.toThrow(/snapshot metadata/);
    });
  });
});
