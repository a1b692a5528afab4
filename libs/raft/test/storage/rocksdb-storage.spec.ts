import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageCorruptionError } from '../../src/storage.js';
import {
  HARD_STATE_KEY,
  LOG_RANGE,
  SNAPSHOT_CHUNK_RANGE,
  SNAPSHOT_CHUNK_SIZE,
  SNAPSHOT_META_KEY,
  decodeLogKey,
  encodeEntry,
  logKey,
  snapshotChunkKey,
} from '../../src/storage/rocksdb-format.js';
import { RocksDbStorage } from '../../src/storage/rocksdb-storage.js';
import { InvalidWriteError } from '../../src/storage/validation.js';
import { encodeMembers } from '../../src/membership.js';
import { EntryType } from '../../src/types.js';
import { waitFor } from '../../../testing/src/wait.js';
import {
  bytesOf,
  entry,
  indexes,
  materialize,
  promised,
  flipBits,
  range,
  snapshot,
  streamOf,
  withRawDb,
  type RawDb,
  type SnapshotBytes,
} from './helpers.js';

/** Stores s as a snapshot the local state machine took. */
const saveLocal = (s: RocksDbStorage, snap: SnapshotBytes, compactUpTo: number) =>
  s.saveSnapshot(snap.meta, streamOf(snap.data), compactUpTo);

/** Receives snap as from the leader, for a batch to install. */
const received = async (s: RocksDbStorage, snap: SnapshotBytes) => ({
  meta: snap.meta,
  data: await s.receiveSnapshot(snap.meta, streamOf(snap.data)),
});

/** Every key under a range, in order. */
async function keysIn(db: RawDb, range: object): Promise<Buffer[]> {
  const it = db.iterator({ ...range, values: false });
  const keys: Buffer[] = [];
  for (;;) {
    const key = await promised<Buffer | undefined>((cb) => it.next(cb));
    if (key === undefined) break;
    keys.push(key);
  }
  await promised((cb) => it.end(cb));
  return keys;
}

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
    expect(await saveLocal(s, snapshot(2, 1), 1)).toBe(true);
    const before = await materialize(await s.load());
    expect(before).toEqual({
      hardState: { term: 2 ** 40, vote: 'nöde-b', commit: 3 },
      snapshot: snapshot(2, 1),
      entries: entries.slice(2),
    });
    s = await reopen();
    expect(await materialize(await s.load())).toEqual(before);
    expect(await bytesOf(await s.readSnapshot())).toEqual(snapshot(2, 1));
  });

  it('keeps Config entries and the membership of local and received snapshots across a restart', async () => {
    let s = await open();
    const members = [
      { id: 'a', learner: false, address: 'h1:1' },
      { id: 'b', learner: true, address: 'h2:1' },
    ];
    const config = { index: 4, term: 1, type: EntryType.Config, data: encodeMembers(members) };
    await s.save({ entries: [...range(1, 3, 1), config, ...range(5, 6, 1)] });
    s = await reopen();
    expect((await s.load()).entries[3]).toEqual(config);
    const local = snapshot(5, 1);
    const withMembers = { ...local, meta: { ...local.meta, membership: { index: 4, members } } };
    await saveLocal(s, withMembers, 2);
    s = await reopen();
    let state = await s.load();
    expect(state.snapshot?.meta).toEqual(withMembers.meta);
    expect(indexes(state.entries)).toEqual([6]);
    const remote = snapshot(30, 2);
    const remoteMeta = { ...remote.meta, membership: { index: 0, members: [members[0]!] } };
    await s.save({ snapshot: await received(s, { ...remote, meta: remoteMeta }) });
    s = await reopen();
    state = await s.load();
    expect(state.snapshot?.meta).toEqual(remoteMeta);
    expect(await bytesOf(await s.readSnapshot())).toEqual({ ...remote, meta: remoteMeta });
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
      snapshot: await received(s, snapshot(20, 3)),
      entries: range(21, 22, 3),
      hardState: { term: 3, vote: '', commit: 20 },
    });
    s = await reopen();
    const state = await s.load();
    expect(await bytesOf(state.snapshot)).toEqual(snapshot(20, 3));
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
    await saveLocal(s, snapshot(6, 1), 3);
    s = await reopen();
    expect(indexes((await s.load()).entries)).toEqual([7, 8, 9, 10]);
    await s.save({ entries: range(11, 11, 1) });
    await saveLocal(s, snapshot(11, 1), 11);
    s = await reopen();
    expect(await materialize(await s.load())).toMatchObject({
      snapshot: snapshot(11, 1),
      entries: [],
    });
    await s.save({ entries: range(12, 12, 2) });
    s = await reopen();
    expect(indexes((await s.load()).entries)).toEqual([12]);
    await closeStorage();
    await withRawDb(dir, async (db) => {
      await expect(promised<Buffer>((cb) => db.get(logKey(3), cb))).rejects.toThrow(/NotFound/);
    });
  });

  it('loads a log whose compaction a crash cut short, and the next compaction ends it', async () => {
    let s = await open();
    await s.save({ entries: range(1, 10, 1) });
    await saveLocal(s, snapshot(8, 1), 8);
    await closeStorage();
    const ctx = { nodeId: 'n1', location: dir };
    const stored = async (db: RawDb) =>
      (await keysIn(db, LOG_RANGE)).map((key) => decodeLogKey(ctx, key));
    await withRawDb(dir, async (db) => {
      expect(await stored(db)).toEqual([9, 10]);
      // The compaction deletes in index order: a crash keeps the last of the entries it covers.
      for (const e of range(5, 8, 1)) {
        const key = logKey(e.index);
        await promised((cb) => db.put(key, encodeEntry(key, e), cb));
      }
    });
    s = await reopen();
    expect(await materialize(await s.load())).toMatchObject({
      snapshot: snapshot(8, 1),
      entries: range(9, 10, 1),
    });
    await s.save({ entries: range(11, 12, 1) });
    await saveLocal(s, snapshot(11, 1), 11);
    s = await reopen();
    expect(indexes((await s.load()).entries)).toEqual([12]);
    await closeStorage();
    await withRawDb(dir, async (db) => expect(await stored(db)).toEqual([12]));
  });

  it('installs a snapshot only once the compaction before it has cleared its entries', async () => {
    const s = await open();
    for (let from = 1; from <= 60_000; from += 5000)
      await s.save({ entries: range(from, from + 4999, 1) });
    // Keeps 10 entries: the install deletes them in its batch, and writes entries after it.
    await saveLocal(s, snapshot(60_000, 1), 59_990);
    const next = snapshot(70_000, 2);
    await s.save({ snapshot: await received(s, next), entries: range(70_001, 70_002, 2) });
    // Were the compaction still clearing, the entries below it would be followed by 70,001:
    // a gap that load (and a restart after a crash) reports as a missing entry.
    expect(await materialize(await s.load())).toMatchObject({
      snapshot: next,
      entries: range(70_001, 70_002, 2),
    });
  });

  it('stores a large snapshot in chunks and drops stale chunks when replaced', async () => {
    let s = await open();
    const big = snapshot(5, 1, 2 * SNAPSHOT_CHUNK_SIZE + 17);
    await s.save({ snapshot: await received(s, big) });
    s = await reopen();
    // Read in chunks of the storage's size, never as one buffer; compared at the end only
    // because Jest's deep equality of megabytes is slow.
    const sizes: number[] = [];
    const read = (await s.readSnapshot())!;
    expect(read.data.bytes).toBe(big.data.length);
    for await (const chunk of read.data.chunks()) sizes.push(chunk.length);
    expect(sizes).toEqual([SNAPSHOT_CHUNK_SIZE, SNAPSHOT_CHUNK_SIZE, 17]);
    expect(Buffer.from((await bytesOf(read))!.data).equals(big.data)).toBe(true);
    await s.save({ snapshot: await received(s, snapshot(9, 2, 10)) });
    s = await reopen();
    expect(await bytesOf(await s.readSnapshot())).toEqual(snapshot(9, 2, 10));
    await closeStorage();
    // Only the new snapshot's one chunk is left.
    await withRawDb(dir, async (db) =>
      expect(await keysIn(db, SNAPSHOT_CHUNK_RANGE)).toHaveLength(1),
    );
  });

  it('keeps the previous snapshot whole when the process dies in the middle of a save', async () => {
    let s = await open();
    await s.save({ entries: range(1, 9, 1) });
    const first = snapshot(3, 1, SNAPSHOT_CHUNK_SIZE + 5);
    await saveLocal(s, first, 2);
    // A state machine that hands out two chunks and then never another: the process "dies"
    // (closes) with them written, the batch that would store them never issued.
    let pulled = 0;
    async function* stalls() {
      for (const c of [new Uint8Array(SNAPSHOT_CHUNK_SIZE), new Uint8Array(SNAPSHOT_CHUNK_SIZE)]) {
        pulled++;
        yield c;
      }
      await new Promise(() => undefined);
    }
    void s.saveSnapshot({ index: 8, term: 1 }, stalls(), 8);
    await waitFor('both chunks to be pulled', () => pulled === 2);
    await closeStorage();
    // Two chunks of the stored snapshot, two of the one being saved.
    await withRawDb(dir, async (db) =>
      expect(await keysIn(db, SNAPSHOT_CHUNK_RANGE)).toHaveLength(4),
    );
    s = await open();
    const state = await s.load();
    expect(Buffer.from((await bytesOf(state.snapshot))!.data).equals(first.data)).toBe(true);
    expect(indexes(state.entries)).toEqual([4, 5, 6, 7, 8, 9]);
    await closeStorage();
    // The chunks of the save cut short were garbage, deleted at start-up.
    await withRawDb(dir, async (db) =>
      expect(await keysIn(db, SNAPSHOT_CHUNK_RANGE)).toHaveLength(2),
    );
  });

  it('drops the chunks of a save whose source fails, and of received snapshots not installed', async () => {
    let s = await open();
    await s.save({ entries: range(1, 9, 1) });
    async function* failing() {
      yield new Uint8Array(SNAPSHOT_CHUNK_SIZE + 1);
      throw new Error('state machine failed');
    }
    await expect(s.saveSnapshot({ index: 5, term: 1 }, failing(), 5)).rejects.toThrow(
      'state machine failed',
    );
    const a = await s.receiveSnapshot({ index: 30, term: 2 }, streamOf(new Uint8Array(7)));
    const b = await s.receiveSnapshot({ index: 40, term: 2 }, streamOf(new Uint8Array(7)));
    const c = await s.receiveSnapshot({ index: 12, term: 2 }, streamOf(new Uint8Array(7)));
    await s.discardSnapshot(a);
    await expect(bytesOf({ meta: { index: 30, term: 2 }, data: a })).rejects.toThrow(
      /no longer stored/,
    );
    // A local snapshot at 20: the one received at 12 can never be installed now, the one at 40 can.
    await saveLocal(s, snapshot(20, 1), 0).catch(() => undefined);
    await s.save({ entries: range(10, 20, 1) });
    expect(await saveLocal(s, snapshot(20, 1), 15)).toBe(true);
    await expect(bytesOf({ meta: { index: 12, term: 2 }, data: c })).rejects.toThrow(
      /no longer stored/,
    );
    expect((await bytesOf({ meta: { index: 40, term: 2 }, data: b }))!.data).toEqual(
      new Uint8Array(7),
    );
    s = await reopen();
    await closeStorage();
    // Only the stored snapshot's chunk is left: the received one at 40 was forgotten.
    await withRawDb(dir, async (db) =>
      expect(await keysIn(db, SNAPSHOT_CHUNK_RANGE)).toHaveLength(1),
    );
  });

  it('stores nothing for a local snapshot that a received one overtook', async () => {
    const s = await open();
    await s.save({ entries: range(1, 9, 1) });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    async function* slow() {
      yield new Uint8Array(3);
      await gate;
      yield new Uint8Array(3);
    }
    const local = s.saveSnapshot({ index: 6, term: 1 }, slow(), 6);
    await s.save({ snapshot: await received(s, snapshot(20, 2)) });
    release();
    expect(await local).toBe(false);
    expect(await bytesOf(await s.readSnapshot())).toEqual(snapshot(20, 2));
  });

  it('lets a read that started finish after the snapshot was replaced; a later one fails', async () => {
    const s = await open();
    const old = snapshot(5, 1, 2 * SNAPSHOT_CHUNK_SIZE);
    await s.save({ snapshot: await received(s, old) });
    const reading = (await s.readSnapshot())!;
    const it = reading.data.chunks()[Symbol.asyncIterator]();
    const head = await it.next();
    expect(head.value).toHaveLength(SNAPSHOT_CHUNK_SIZE);
    await s.save({ snapshot: await received(s, snapshot(9, 2)) });
    const tail = await it.next();
    expect(
      Buffer.from(tail.value as Uint8Array).equals(old.data.subarray(SNAPSHOT_CHUNK_SIZE)),
    ).toBe(true);
    expect((await it.next()).done).toBe(true);
    await expect(bytesOf(reading)).rejects.toThrow(/no longer stored/);
  });

  it('reads a snapshot stored in the format before streaming, then replaces it', async () => {
    let s = await open();
    await s.save({ entries: range(1, 9, 1) });
    await closeStorage();
    // Format 1: [crc][index][term][length][chunks][data crc] and chunks under [0x03][chunk].
    const data = snapshot(4, 1, 100).data;
    const { crc32c } = await import('@node-rs/crc32');
    const seal = (key: Buffer, value: Buffer) => {
      value.writeUInt32BE(crc32c(value.subarray(4), crc32c(key)), 0);
      return value;
    };
    const meta = Buffer.alloc(36);
    meta.writeBigUInt64BE(4n, 4);
    meta.writeBigUInt64BE(1n, 12);
    meta.writeBigUInt64BE(100n, 20);
    meta.writeUInt32BE(1, 28);
    meta.writeUInt32BE(crc32c(data), 32);
    const chunkKey = Buffer.from([0x03, 0, 0, 0, 0]);
    await withRawDb(dir, async (db) => {
      await promised((cb) => db.put(SNAPSHOT_META_KEY, seal(SNAPSHOT_META_KEY, meta), cb));
      await promised((cb) =>
        db.put(chunkKey, seal(chunkKey, Buffer.concat([Buffer.alloc(4), data])), cb),
      );
    });
    s = await open();
    expect(await bytesOf(await s.readSnapshot())).toEqual(snapshot(4, 1, 100));
    expect(await saveLocal(s, snapshot(7, 1), 7)).toBe(true);
    await closeStorage();
    await withRawDb(dir, async (db) =>
      expect(await keysIn(db, { gte: Buffer.from([0x03]), lt: Buffer.from([0x04]) })).toEqual([]),
    );
    s = await open();
    expect(await bytesOf(await s.readSnapshot())).toEqual(snapshot(7, 1));
  });

  it('applies writes issued without waiting in call order, as encoded at call time', async () => {
    const s = await open();
    const mutable = range(4, 4, 1);
    const writes = [
      s.save({ entries: range(1, 6, 1) }),
      s.save({ entries: mutable, hardState: { term: 1, vote: '', commit: 1 } }),
      saveLocal(s, snapshot(2, 1), 1),
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
    await expect(saveLocal(s, snapshot(4, 1), 0)).rejects.toThrow(InvalidWriteError);
    await expect(
      s.save({ snapshot: { meta: { index: 9, term: 1 }, data: streamData() } }),
    ).rejects.toThrow(/not received by this storage/);
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
      await saveLocal(s, snapshot(5, 1), 5);
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

    it('detects corrupt snapshot metadata, a missing chunk, and corrupt snapshot data', async () => {
      let s = await open();
      await saveLocal(s, snapshot(4, 1, 100), 2);
      await closeStorage();
      // The first snapshot of a fresh database has id 1.
      const key = snapshotChunkKey(1, 0);
      await withRawDb(dir, async (db) => {
        const value = await promised<Buffer>((cb) => db.get(key, cb));
        flipBits(value, 50, 0xff);
        await promised((cb) => db.put(key, value, cb));
      });
      // The data is checked as it is read (by the state machine restoring it).
      s = await open();
      const read = (await s.load()).snapshot!;
      await expect(bytesOf(read)).rejects.toThrow(StorageCorruptionError);
      await expect(bytesOf(read)).rejects.toThrow(/snapshot chunk 0 checksum/);
      await closeStorage();
      await withRawDb(dir, (db) => promised((cb) => db.del(key, cb)));
      await expect(open()).rejects.toThrow(/snapshot at index 4 has 0 of its 1 chunks/);
      await withRawDb(dir, (db) =>
        promised((cb) => db.put(SNAPSHOT_META_KEY, Buffer.alloc(45), cb)),
      );
      await expect(open()).rejects.toThrow(/snapshot metadata/);
    });
  });
});

function streamData() {
  return { bytes: 0, chunks: () => streamOf(new Uint8Array(0)) };
}
