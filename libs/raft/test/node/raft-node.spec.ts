import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LeadershipLostError, NotLeaderError, TransferNotPossibleError } from '../../src/errors.js';
import { RaftNode } from '../../src/node.js';
import type { StateMachine, Transport } from '../../src/ports.js';
import { StorageCorruptionError, type Storage } from '../../src/storage.js';
import { readAll } from '../../src/snapshot-stream.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { RocksDbStorage } from '../../src/storage/rocksdb-storage.js';
import { type Entry, EntryType, type Message } from '../../src/types.js';
import { LocalHub } from './local-transport.js';
import { waitFor } from '../../../testing/src/wait.js';

class Counter implements StateMachine<number> {
  total = 0;
  apply(e: Entry): number {
    if (e.type === EntryType.Normal) this.total += e.data[0] ?? 0;
    return this.total;
  }
  snapshot(): Iterable<Uint8Array> {
    return [Uint8Array.of(this.total)];
  }
  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.total = (await readAll(chunks))[0]!;
  }
}

const ids = ['a', 'b', 'c'];

const entry = (index: number): Entry => ({
  index,
  term: 1,
  type: EntryType.Normal,
  data: Uint8Array.of(1),
});

describe('RaftNode driver', () => {
  let nodes: RaftNode<number>[] = [];
  let hub: LocalHub;
  const sms = new Map<string, Counter>();

  beforeEach(async () => {
    hub = new LocalHub();
    nodes = await Promise.all(
      ids.map((id, i) => {
        const sm = new Counter();
        sms.set(id, sm);
        return RaftNode.start<number>({
          id,
          voters: ids,
          storage: new MemoryStorage(),
          transport: hub.transport(id),
          stateMachine: sm,
          seed: i + 1,
        });
      }),
    );
  });

  afterEach(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  });

  const leader = () => waitFor('a leader', () => nodes.find((n) => n.isLeader()));

  test('propose resolves with the state machine result once applied, on every node', async () => {
    const l = await leader();
    const r1 = await l.propose(Uint8Array.of(5));
    const r2 = await l.propose(Uint8Array.of(7));
    expect(r2.index).toBe(r1.index + 1);
    expect(r2.result).toBe(12);
    await waitFor('all nodes to apply', () => ids.every((id) => sms.get(id)!.total === 12));
  });

  test('a follower rejects proposals and reads at once, naming the leader', async () => {
    const l = await leader();
    const f = nodes.find((n) => n !== l)!;
    await waitFor('the follower to know the leader', () => f.leaderId() === l.id);
    await expect(f.propose(Uint8Array.of(1))).rejects.toThrow(NotLeaderError);
    await expect(f.propose(Uint8Array.of(1))).rejects.toMatchObject({ leaderHint: l.id });
    await expect(f.read()).rejects.toMatchObject({ leaderHint: l.id });
  });

  test('a leader cut off from the majority fails its pending proposals instead of leaving them hanging', async () => {
    const l = await leader();
    hub.isolate(l.id, ids);
    const pending = l.propose(Uint8Array.of(1));
    await expect(pending).rejects.toThrow(LeadershipLostError);
    // The majority elects someone else and moves on.
    const other = await waitFor('a new leader', () => nodes.find((n) => n !== l && n.isLeader()));
    await other.propose(Uint8Array.of(2));
  });

  test('read resolves only on the leader with a quorum behind it', async () => {
    const l = await leader();
    await l.propose(Uint8Array.of(3));
    await l.read();
    hub.isolate(l.id, ids);
    await expect(l.read()).rejects.toThrow(LeadershipLostError);
  });

  test('transferLeadership hands over and reports status per peer', async () => {
    const l = await leader();
    await l.propose(Uint8Array.of(1));
    const target = nodes.find((n) => n !== l)!;
    await l.transferLeadership(target.id);
    await waitFor('the target to lead', () => target.isLeader());
    const s = target.status();
    expect(s.role).toBe('leader');
    expect(Object.keys(s.progress).sort()).toEqual(ids.filter((i) => i !== target.id).sort());
    expect(s.commit).toBeGreaterThanOrEqual(s.applied);
  });

  test('transferLeadership to a member cut off for a while rejects at once; writes go on', async () => {
    const l = await leader();
    const target = nodes.find((n) => n !== l)!;
    hub.isolate(target.id, ids);
    // Until the leader has missed the target for an election timeout, a transfer may still be
    // accepted (and then time out): retry, each with a short timeout, until one is refused.
    const refusal = await waitFor('a transfer to be refused', () =>
      l.transferLeadership(target.id, 50).then(
        () => undefined,
        (e: Error) => (e instanceof TransferNotPossibleError ? e : undefined),
      ),
    );
    expect(refusal.message).toContain(`cannot transfer leadership to ${target.id}`);
    expect(l.isLeader()).toBe(true);
    await l.propose(Uint8Array.of(4));
  });

  test('a failed storage write stops the node: it reports fatal and fails its pending work', async () => {
    class FailingStorage extends MemoryStorage {
      fail = false;
      override save(batch: Parameters<MemoryStorage['save']>[0]): Promise<void> {
        return this.fail ? Promise.reject(new Error('disk on fire')) : super.save(batch);
      }
    }
    const storage = new FailingStorage();
    const solo = await RaftNode.start<number>({
      id: 'solo',
      voters: ['solo'],
      storage,
      transport: new LocalHub().transport('solo'),
      stateMachine: new Counter(),
      seed: 9,
    });
    try {
      await waitFor('the single node to lead', () => solo.isLeader());
      const fatal = new Promise<Error>((ok) => solo.once('fatal', ok));
      storage.fail = true;
      await expect(solo.propose(Uint8Array.of(1))).rejects.toThrow('disk on fire');
      expect((await fatal).message).toBe('disk on fire');
      await expect(solo.propose(Uint8Array.of(1))).rejects.toThrow(NotLeaderError);
    } finally {
      await solo.stop();
    }
  });

  test('start refuses a stored commit index beyond the stored log, naming node, place and indexes', async () => {
    const lost = {
      hardState: { term: 1, vote: 'solo', commit: 5 },
      entries: [1, 2, 3].map((i) => entry(i)),
    };
    /** The error RaftNode.start fails with (a node that did start is stopped at once). */
    const startError = (storage: Storage): Promise<unknown> =>
      RaftNode.start<number>({
        id: 'solo',
        voters: ['solo'],
        storage,
        transport: new LocalHub().transport('solo'),
        stateMachine: new Counter(),
        seed: 4,
      }).then(
        (n) => n.stop().then(() => null),
        (e: unknown) => e,
      );
    const memory = new MemoryStorage();
    memory.applyDurably(lost);
    const inMemory = await startError(memory);
    expect(inMemory).toBeInstanceOf(StorageCorruptionError);
    expect((inMemory as Error).message).toMatch(
      /node solo .*commit index 5 is beyond the last stored index 3/,
    );

    const dir = mkdtempSync(join(tmpdir(), 'raft-node-'));
    const rocks = await RocksDbStorage.open(dir, 'solo');
    try {
      await rocks.save(lost);
      const onDisk = await startError(rocks);
      expect(onDisk).toBeInstanceOf(StorageCorruptionError);
      expect((onDisk as Error).message).toContain(
        `storage corruption on node solo in ${dir} at log index 4: ` +
          'commit index 5 is beyond the last stored index 3',
      );
    } finally {
      await rocks.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a message that breaks a core invariant takes the node out of service, as a storage failure does', async () => {
    // A transport that hands this test the node's receive path.
    let deliver: (m: Message) => void = () => {};
    const transport: Transport = {
      ...new LocalHub().transport('a'),
      onMessage: (h) => (deliver = h),
    };
    const node = await RaftNode.start<number>({
      id: 'a',
      voters: ids,
      storage: new MemoryStorage(),
      transport,
      stateMachine: new Counter(),
      seed: 5,
    });
    try {
      const fatal = new Promise<Error>((ok) => node.once('fatal', ok));
      // Legitimate refusals are not failures.
      await expect(node.propose(Uint8Array.of(1))).rejects.toThrow(NotLeaderError);
      const append = (term: number, index: number): Message => ({
        type: 'AppendEntries',
        from: 'b',
        to: 'a',
        term,
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [{ index, term, type: EntryType.Normal, data: Uint8Array.of(1) }],
        leaderCommit: 0,
      });
      // Entry 2 right after entry 0: a gap no leader sends. The core throws half-way through.
      expect(() => deliver(append(5, 2))).not.toThrow();
      expect((await fatal).message).toMatch(/raft invariant: gap appending 2 after 0/);
      expect(node.status().term).toBe(5);
      // Out of service: nothing more is stepped, nothing is accepted.
      deliver(append(7, 1));
      expect(node.status()).toMatchObject({ term: 5, lastIndex: 0 });
      await expect(node.propose(Uint8Array.of(1))).rejects.toThrow(NotLeaderError);
    } finally {
      await node.stop();
    }
  });

  test('snapshotDue decides when to snapshot, from the entries applied since the last one', async () => {
    const asked: number[] = [];
    const solo = await RaftNode.start<number>({
      id: 'solo',
      voters: ['solo'],
      storage: new MemoryStorage(),
      transport: new LocalHub().transport('solo'),
      stateMachine: new Counter(),
      seed: 3,
      snapshotDue: (since) => {
        asked.push(since);
        return since >= 4;
      },
    });
    try {
      await waitFor('the single node to lead', () => solo.isLeader());
      for (let i = 0; i < 3; i++) await solo.propose(Uint8Array.of(1));
      expect(solo.counters.snapshotsTaken).toBe(0);
      await solo.propose(Uint8Array.of(1));
      await waitFor('a snapshot', () => solo.counters.snapshotsTaken === 1);
      expect(Math.max(...asked)).toBeGreaterThanOrEqual(4);
    } finally {
      await solo.stop();
    }
  });
});
