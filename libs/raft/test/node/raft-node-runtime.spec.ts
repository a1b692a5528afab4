// RaftNode takes time only from its Runtime: ticks, wake-ups, timeouts and latencies.
import { RaftNode } from '../../src/node.js';
import type { Runtime, StateMachine, Timer, Transport } from '../../src/ports.js';
import type { PersistBatch } from '../../src/storage.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import type { Entry, Message } from '../../src/types.js';

/** A hand-driven runtime: nothing runs until the test advances its clock or runs `soon` work. */
class ManualRuntime implements Runtime {
  time = 1000;
  afterCalls: number[] = [];
  private timers: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];
  private immediates: (() => void)[] = [];
  private seq = 0;

  now(): number {
    return this.time;
  }

  after(ms: number, fn: () => void): Timer {
    this.afterCalls.push(ms);
    const t = { at: this.time + ms, seq: this.seq++, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => (t.cancelled = true) };
  }

  soon(fn: () => void): void {
    this.immediates.push(fn);
  }

  get pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Runs `soon` work and the promise continuations it causes until nothing is left. */
  async settle(): Promise<void> {
    for (let round = 0; round < 1000; round++) {
      await new Promise((r) => setImmediate(r));
      if (this.immediates.length === 0) return;
      const batch = this.immediates;
      this.immediates = [];
      for (const fn of batch) fn();
    }
    throw new Error('soon() work never settles');
  }

  /** Moves the clock by ms, firing due timers in order, settling after each. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await this.settle();
      const due = this.timers
        .filter((t) => !t.cancelled && t.at <= end)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = Math.max(this.time, due.at);
      due.fn();
    }
    this.time = end;
    await this.settle();
  }
}

const silentTransport = (): Transport => ({
  start: async () => {},
  stop: async () => {},
  send: () => {},
  onMessage: () => {},
  onUnreachable: () => {},
  onSnapshotStatus: () => {},
});

const nullMachine: StateMachine<number> = {
  apply: (e: Entry) => e.index,
  snapshot: () => [],
  restore: async () => {},
};

async function startSolo(
  rt: ManualRuntime,
  voters = ['a'],
  storage = new MemoryStorage(),
): Promise<RaftNode<number>> {
  const node = await RaftNode.start<number>({
    id: 'a',
    voters,
    storage,
    transport: silentTransport(),
    stateMachine: nullMachine,
    seed: 7,
    tickMs: 10,
    electionTimeoutMinMs: 100,
    electionTimeoutMaxMs: 200,
    heartbeatIntervalMs: 30,
    runtime: rt,
  });
  await rt.settle();
  return node;
}

describe('RaftNode on an injected runtime', () => {
  test('ticks only as the runtime clock advances, re-arming one timer per tick', async () => {
    const rt = new ManualRuntime();
    const node = await startSolo(rt);
    expect(rt.afterCalls).toEqual([10]);
    expect(rt.pendingTimers).toBe(1);
    // Below the minimum election timeout nothing happens, however long real time takes.
    await rt.advance(90);
    expect(node.isLeader()).toBe(false);
    await rt.advance(200);
    expect(node.isLeader()).toBe(true);
    expect(rt.afterCalls.every((ms) => ms === 10)).toBe(true);
    expect(rt.pendingTimers).toBe(1);
    await node.stop();
    expect(rt.pendingTimers).toBe(0);
  });

  test('measures commit and storage latencies with the runtime clock', async () => {
    const rt = new ManualRuntime();
    const node = await startSolo(rt);
    await rt.advance(300);
    const commits: number[] = [];
    const writes: number[] = [];
    node.observer = {
      proposalCommitted: (s) => commits.push(s),
      storageWrite: (s) => writes.push(s),
    };
    const done = node.propose(Uint8Array.of(1));
    await rt.settle();
    expect(typeof (await done).result).toBe('number');
    // The manual clock did not move while the proposal committed: latencies are exactly zero.
    expect(commits).toEqual([0]);
    expect(writes).toEqual([0]);
    await node.stop();
  });

  test('a commit index alone is not written: it rides with the next synced write, and the last one is written at stop', async () => {
    const rt = new ManualRuntime();
    const storage = new MemoryStorage();
    const saves: PersistBatch[] = [];
    const save = storage.save.bind(storage);
    storage.save = (b) => {
      saves.push(b);
      return save(b);
    };
    const node = await startSolo(rt, ['a'], storage);
    await rt.advance(300);
    expect(node.isLeader()).toBe(true);
    saves.length = 0;
    const first = await Promise.all([node.propose(Uint8Array.of(1)), rt.settle()]);
    const second = await Promise.all([node.propose(Uint8Array.of(2)), rt.settle()]);
    // Each proposal took one write, carrying its entry; none carried the commit index alone.
    expect(saves.every((b) => b.sync !== false && (b.entries?.length ?? 0) > 0)).toBe(true);
    expect(saves).toHaveLength(2);
    // The second write carried the commit index that the first entry's commit had deferred.
    expect(saves[1]!.hardState?.commit).toBe(first[0].index);
    await node.stop();
    // A MemoryStorage keeps what it holds after close: read it as a restart would.
    const stored = await storage.load();
    expect(stored.hardState.commit).toBe(second[0].index);
  });

  test("a leadership transfer times out on the runtime's clock", async () => {
    const rt = new ManualRuntime();
    const handlers = new Map<string, (m: Message) => void>();
    // TimeoutNow is lost, so the transfer can only end by its timeout.
    const transport = (id: string): Transport => ({
      ...silentTransport(),
      onMessage: (h) => handlers.set(id, h),
      send: (m) => {
        if (m.type !== 'TimeoutNow') rt.soon(() => handlers.get(m.to)?.(m));
      },
    });
    const nodes = await Promise.all(
      ['a', 'b'].map((id, i) =>
        RaftNode.start<number>({
          id,
          voters: ['a', 'b'],
          storage: new MemoryStorage(),
          transport: transport(id),
          stateMachine: nullMachine,
          seed: 3 + i,
          electionTimeoutMinMs: 100,
          electionTimeoutMaxMs: 200,
          heartbeatIntervalMs: 30,
          runtime: rt,
        }),
      ),
    );
    await rt.advance(400);
    const leader = nodes.find((n) => n.isLeader())!;
    const other = nodes.find((n) => n !== leader)!;
    let outcome = 'pending';
    leader.transferLeadership(other.id, 50).then(
      () => (outcome = 'done'),
      (e: Error) => (outcome = e.message),
    );
    await rt.advance(49);
    expect(outcome).toBe('pending');
    await rt.advance(1);
    expect(outcome).toMatch(/did not complete within 50 ms/);
    await Promise.all(nodes.map((n) => n.stop()));
  });
});
