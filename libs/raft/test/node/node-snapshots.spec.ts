// NodeSnapshots pulls a snapshot one chunk per turn of the event loop, both ways.
import { NodeSnapshots, SnapshotAbandoned } from '../../src/node-snapshots.js';
import type { Runtime, StateMachine } from '../../src/ports.js';
import { readAll, snapshotDataOf } from '../../src/snapshot-stream.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { EntryType } from '../../src/types.js';

/** A runtime whose turns the test runs one at a time. */
class Turns implements Runtime {
  private queue: (() => void)[] = [];
  now = () => 0;
  after(): never {
    throw new Error('no timers here');
  }
  soon(fn: () => void): void {
    this.queue.push(fn);
  }
  get pending(): number {
    return this.queue.length;
  }
  /** Runs one turn, then every promise continuation it caused. */
  async turn(): Promise<void> {
    this.queue.shift()?.();
    await settled();
  }
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

/** A state machine whose snapshot is `chunks` chunks, counting how many were made. */
function counting(chunks: number) {
  const seen = { made: 0, released: false, restored: [] as number[] };
  const sm: StateMachine<number> = {
    apply: () => 0,
    snapshot: () =>
      (function* () {
        try {
          for (let i = 0; i < chunks; i++) {
            seen.made++;
            yield Uint8Array.of(i);
          }
        } finally {
          seen.released = true;
        }
      })(),
    restore: async (stream) => {
      for await (const c of stream) seen.restored.push(c[0]!);
    },
  };
  return { sm, seen };
}

const meta = { index: 3, term: 1 };

async function storageWithLog(): Promise<MemoryStorage> {
  const storage = new MemoryStorage();
  const entries = [1, 2, 3].map((index) => ({
    index,
    term: 1,
    type: EntryType.Normal,
    data: new Uint8Array(0),
  }));
  await storage.save({ entries });
  return storage;
}

describe('NodeSnapshots', () => {
  test('takes a snapshot one chunk per turn: the first at once, then one after each turn', async () => {
    const rt = new Turns();
    const { sm, seen } = counting(5);
    const storage = await storageWithLog();
    const snapshots = new NodeSnapshots(rt, storage, sm);
    let taken: unknown;
    void snapshots.take(meta, 2).then((t) => (taken = t));
    expect(seen.made).toBe(1);
    expect(snapshots.busy).toBe(true);
    await settled();
    for (let made = 2; made <= 5; made++) {
      expect(rt.pending).toBe(1);
      await rt.turn();
      expect(seen.made).toBe(made);
    }
    await rt.turn();
    expect(taken).toMatchObject({ stored: true, bytes: 5 });
    expect(snapshots.busy).toBe(false);
    expect(seen.released).toBe(true);
    const stored = await storage.readSnapshot();
    expect(await readAll(stored!.data.chunks())).toEqual(Uint8Array.of(0, 1, 2, 3, 4));
  });

  test('abandoned, it stops pulling, releases the view and stores nothing', async () => {
    const rt = new Turns();
    const { sm, seen } = counting(5);
    const storage = await storageWithLog();
    const snapshots = new NodeSnapshots(rt, storage, sm);
    const taken = snapshots.take(meta, 2).catch((e: unknown) => e);
    await settled();
    await rt.turn();
    const stopped = snapshots.abandon();
    await rt.turn();
    expect(await taken).toBeInstanceOf(SnapshotAbandoned);
    await stopped;
    expect(seen.made).toBe(2);
    expect(seen.released).toBe(true);
    expect(storage.snapshotIndex()).toBe(0);
    expect(storage.stagedSnapshots).toBe(0);
    expect(snapshots.busy).toBe(false);
  });

  test('a state machine that fails to make its snapshot fails the take, not the caller', async () => {
    const snapshots = new NodeSnapshots(new Turns(), await storageWithLog(), {
      apply: () => 0,
      snapshot: () => {
        throw new Error('cannot');
      },
      restore: async () => {},
    });
    await expect(snapshots.take(meta, 0)).rejects.toThrow('cannot');
    expect(snapshots.busy).toBe(false);
  });

  test('restores one chunk per turn, and stops when the node stops', async () => {
    const rt = new Turns();
    const { sm, seen } = counting(0);
    const snapshots = new NodeSnapshots(rt, new MemoryStorage(), sm);
    const snapshot = { meta, data: snapshotDataOf(Uint8Array.of(7, 8, 9, 10), 1) };
    let stopped = false;
    const restored = snapshots.restore(snapshot, () => stopped).catch((e: unknown) => e);
    await settled();
    expect(seen.restored).toEqual([7]);
    await rt.turn();
    expect(seen.restored).toEqual([7, 8]);
    stopped = true;
    await rt.turn();
    expect(await restored).toBeInstanceOf(SnapshotAbandoned);
    expect(seen.restored).toEqual([7, 8]);
  });

  test('feeds a large stored chunk to the restore in slices of 128 KiB, a turn apart', async () => {
    const rt = new Turns();
    const sizes: number[] = [];
    const sm: StateMachine<number> = {
      apply: () => 0,
      snapshot: () => [],
      restore: async (stream) => {
        for await (const c of stream) sizes.push(c.length);
      },
    };
    const snapshots = new NodeSnapshots(rt, new MemoryStorage(), sm);
    const data = new Uint8Array(300 * 1024).map((_, i) => i % 251);
    const snapshot = { meta, data: snapshotDataOf(data, 1 << 20) };
    const restored = snapshots.restore(snapshot, () => false);
    await settled();
    expect(sizes).toEqual([128 * 1024]);
    while (rt.pending > 0) await rt.turn();
    await restored;
    expect(sizes).toEqual([128 * 1024, 128 * 1024, 44 * 1024]);
  });
});
