import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Storage } from '../../src/storage.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { RocksDbStorage } from '../../src/storage/rocksdb-storage.js';
import { InvalidWriteError } from '../../src/storage/validation.js';
import type { Entry } from '../../src/types.js';
import { bytesOf, entry, materialize, range, snapshot, streamOf } from './helpers.js';

describe('RocksDbStorage against MemoryStorage', () => {
  let dir: string;
  let storage: RocksDbStorage | null = null;

  const reopen = async (): Promise<RocksDbStorage> => {
    await storage?.close();
    storage = await RocksDbStorage.open(dir, 'node-a');
    return storage;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'raft-rocksdb-model-'));
  });

  afterEach(async () => {
    await storage?.close();
    storage = null;
    rmSync(dir, { recursive: true, force: true });
  });

  it('behaves like MemoryStorage for random writes and restarts', async () => {
    // Positions are drawn relative to the model's log so that most commands are valid; `bogus`
    // ones must be rejected by both storages alike. As in Raft, the stored commit index never
    // passes the stored log (load refuses such a state: committed entries were lost): appends
    // start after it, snapshots are installed at or past it, and commits stay within the log.
    type Command =
      | { kind: 'append'; back: number; count: number; term: number; hard: boolean; bogus: boolean }
      | { kind: 'install'; ahead: number; term: number; size: number; withEntries: boolean }
      | { kind: 'compact'; at: number; keep: number; bogus: boolean }
      | { kind: 'hard'; term: number; commit: number }
      | { kind: 'restart' };
    const rarely = fc.nat(9).map((n) => n === 0);
    const command: fc.Arbitrary<Command> = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          kind: fc.constant('append' as const),
          back: fc.nat(4),
          count: fc.integer({ min: 0, max: 5 }),
          term: fc.integer({ min: 1, max: 9 }),
          hard: fc.boolean(),
          bogus: rarely,
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('install' as const),
          ahead: fc.integer({ min: -2, max: 6 }),
          term: fc.integer({ min: 1, max: 9 }),
          size: fc.nat(300),
          withEntries: fc.boolean(),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('compact' as const),
          at: fc.nat(100),
          keep: fc.nat(4),
          bogus: rarely,
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('hard' as const),
          term: fc.nat(9),
          commit: fc.nat(30),
        }),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
    );

    const outcome = (p: Promise<void | boolean>): Promise<string> =>
      p.then(
        (stored) => (stored === false ? 'superseded' : 'ok'),
        (err: unknown) => (err instanceof InvalidWriteError ? 'invalid' : `error: ${String(err)}`),
      );

    const apply = async (
      target: Storage,
      c: Command,
      bounds: { snap: number; last: number; commit: number },
    ) => {
      switch (c.kind) {
        case 'append': {
          const lowest = Math.max(bounds.snap, bounds.commit) + 1;
          const first = c.bogus ? bounds.snap : Math.max(lowest, bounds.last + 1 - c.back);
          const entries: Entry[] = [];
          for (let i = 0; i < c.count; i++) entries.push(entry(first + i, c.term, `${c.back}`));
          const hardState = c.hard
            ? { term: c.term, vote: `n${c.back}`, commit: c.count > 0 ? first : bounds.commit }
            : undefined;
          return outcome(target.save({ entries, hardState }));
        }
        case 'install': {
          const index = Math.max(bounds.commit, bounds.last + c.ahead);
          const entries = c.withEntries ? range(index + 1, index + 2, c.term) : undefined;
          const { meta, data } = snapshot(index, c.term, c.size);
          // Received in chunks of any size, as from a transport.
          const staged = await target.receiveSnapshot(meta, streamOf(data, 1 + c.size / 3));
          return outcome(target.save({ snapshot: { meta, data: staged }, entries }));
        }
        case 'compact': {
          const index = c.bogus
            ? bounds.last + 1
            : bounds.snap + (c.at % (bounds.last - bounds.snap + 1));
          const { meta, data } = snapshot(index, 1);
          return outcome(target.saveSnapshot(meta, streamOf(data), Math.max(0, index - c.keep)));
        }
        case 'hard':
          return outcome(
            target.save({
              hardState: { term: c.term, vote: '', commit: c.commit % (bounds.last + 1) },
            }),
          );
        case 'restart':
          return 'ok';
      }
    };

    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 5, maxLength: 30 }), async (commands) => {
        const model = new MemoryStorage();
        await storage?.close();
        storage = null;
        rmSync(dir, { recursive: true, force: true });
        let s = await reopen();
        for (const c of commands) {
          const state = model.loadSync();
          const snap = state.snapshot?.meta.index ?? 0;
          const last = state.entries.at(-1)?.index ?? snap;
          const bounds = { snap, last, commit: state.hardState.commit };
          const expected = await apply(model, c, bounds);
          expect(await apply(s, c, bounds)).toBe(expected);
          if (c.kind === 'restart') s = await reopen();
          expect(await materialize(await s.load())).toEqual(await materialize(model.loadSync()));
        }
        s = await reopen();
        expect(await materialize(await s.load())).toEqual(await materialize(model.loadSync()));
        expect(await bytesOf(await s.readSnapshot())).toEqual(
          await bytesOf(model.readSnapshotSync()),
        );
      }),
      { numRuns: 30 },
    );
  });
});
