import { forceNewCluster, storedConfiguration } from '../../src/force-new-cluster.js';
import { decodeMembers, encodeMembers } from '../../src/membership.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { type Entry, EntryType } from '../../src/types.js';

const three = [
  { id: 'n1', learner: false, address: 'h1:1' },
  { id: 'n2', learner: false, address: 'h2:1' },
  { id: 'n3', learner: true, address: 'h3:1' },
];

function entry(index: number, term: number, type = EntryType.Normal): Entry {
  const data = type === EntryType.Config ? encodeMembers(three) : new Uint8Array([index]);
  return { index, term, type, data };
}

async function survivor(): Promise<MemoryStorage> {
  const s = new MemoryStorage();
  await s.save({
    hardState: { term: 3, vote: 'n2', commit: 5 },
    entries: [
      entry(1, 1),
      entry(2, 1, EntryType.Config),
      entry(3, 2),
      entry(4, 2),
      entry(5, 3),
      entry(6, 3),
      entry(7, 3),
    ],
  });
  return s;
}

describe('forceNewCluster', () => {
  test('appends a configuration naming the survivor alone, committed, in a new term, keeping every entry', async () => {
    const s = await survivor();
    const before = await s.load();
    const forced = await forceNewCluster(s, { id: 'n1', address: 'h1:1' });
    expect(forced).toEqual({ rewritten: true, index: 8, previous: three, commitBefore: 5 });

    const after = await s.load();
    expect(after.entries.slice(0, 7)).toEqual(before.entries);
    const last = after.entries.at(-1)!;
    expect(last).toMatchObject({ index: 8, term: 4, type: EntryType.Config });
    expect(decodeMembers(last.data)).toEqual([{ id: 'n1', learner: false, address: 'h1:1' }]);
    // Committed up to the new configuration: entries 6 and 7, uncommitted before, are kept.
    expect(after.hardState).toEqual({ term: 4, vote: '', commit: 8 });
    expect(storedConfiguration(after)).toEqual({
      index: 8,
      members: [{ id: 'n1', learner: false, address: 'h1:1' }],
    });
  });

  test('does nothing to a node that already is a cluster of one', async () => {
    const s = await survivor();
    await forceNewCluster(s, { id: 'n1', address: 'h1:1' });
    const once = await s.load();
    const again = await forceNewCluster(s, { id: 'n1', address: 'h1:1' });
    expect(again).toMatchObject({ rewritten: false, index: 8 });
    expect(await s.load()).toEqual(once);
  });

  test('the configuration in force is the latest Config entry, else the snapshot, else none', async () => {
    const s = await survivor();
    expect(storedConfiguration(await s.load())).toEqual({ index: 2, members: three });
    const bare = new MemoryStorage();
    await bare.save({ hardState: { term: 1, vote: '', commit: 1 }, entries: [entry(1, 1)] });
    expect(storedConfiguration(await bare.load())).toBeUndefined();
  });
});
