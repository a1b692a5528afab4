import { LockEventType } from '../src/domain/api.js';
import { Code, DomainError, unavailable } from '../src/domain/errors.js';
import type { SmEvent } from '../src/domain/events.js';
import { StreamHub } from '../src/domain/stream-hub.js';

/** The code of what f throws, or undefined when it returns. */
function thrownCode(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return (e as { code?: unknown }).code;
  }
  return undefined;
}

/** Reads what a stream has delivered so far, and how it ended, without blocking. */
function reader<T>(s: AsyncIterable<T>) {
  const got: T[] = [];
  const r: { items: T[]; error?: DomainError; done: boolean } = { items: got, done: false };
  void (async () => {
    try {
      for await (const x of s) got.push(x);
      r.done = true;
    } catch (e) {
      r.error = e as DomainError;
    }
  })();
  return r;
}

const tick = () => new Promise((r) => setImmediate(r));
const lock = (name: string, token: number): SmEvent => ({
  type: 'lock',
  name,
  event: LockEventType.ACQUIRED,
  owner: 'o',
  token,
  lease_id: 'l',
});

describe('StreamHub', () => {
  test('Watch delivers the events of its prefix in order, and ends with ABORTED when a snapshot replaced the state', async () => {
    const hub = new StreamHub(10);
    const w = reader(hub.watch('a/'));
    hub.onEvent(lock('a/1', 5));
    hub.onEvent(lock('b/1', 6));
    hub.onEvent(lock('a/2', 7));
    hub.onEvent({ type: 'restored' });
    await tick();
    expect(w.items.map((e) => e.fencing_token)).toEqual([5, 7]);
    expect(w.error?.code).toBe(Code.ABORTED);
    expect(hub.open).toBe(0);
  });

  test('Observe starts with the state read once ready, then every later change; nothing before', async () => {
    const hub = new StreamHub(10);
    let ready!: () => void;
    let state = { has_leader: false, candidate: '', value: '', fencing_token: 0 };
    const o = reader(
      hub.observe(
        'e',
        () => new Promise<void>((r) => (ready = r)),
        () => state,
      ),
    );
    // Applied before the node caught up: part of the state it reads, never sent on its own.
    hub.onEvent({
      type: 'election',
      name: 'e',
      leader: { candidate: 'a', value: 'v', token: 3, lease_id: 'l' },
    });
    state = { has_leader: true, candidate: 'a', value: 'v', fencing_token: 3 };
    ready();
    await tick();
    hub.onEvent({ type: 'election', name: 'x', leader: null });
    hub.onEvent({ type: 'election', name: 'e', leader: null });
    await tick();
    expect(o.items).toEqual([
      state,
      { has_leader: false, candidate: '', value: '', fencing_token: 0 },
    ]);
  });

  test('an Observe whose catch-up fails ends with that error', async () => {
    const hub = new StreamHub(10);
    const o = reader(
      hub.observe(
        'e',
        () => Promise.reject(unavailable('behind')),
        () => ({}) as never,
      ),
    );
    await tick();
    expect(o.error?.code).toBe(Code.UNAVAILABLE);
    expect(hub.open).toBe(0);
  });

  test('Watch, Observe and KeepAlive share the limit; losing the leader ends Watch and Observe only', async () => {
    const hub = new StreamHub(3);
    const w = reader(hub.watch(''));
    const o = reader(
      hub.observe(
        'e',
        () => Promise.resolve(),
        () => ({}) as never,
      ),
    );
    const release = hub.openKeepAlive();
    expect(thrownCode(() => hub.watch(''))).toBe(Code.RESOURCE_EXHAUSTED);
    expect(thrownCode(() => hub.openKeepAlive())).toBe(Code.RESOURCE_EXHAUSTED);
    hub.endAll(unavailable('lost the leader'));
    await tick();
    expect(w.error?.code).toBe(Code.UNAVAILABLE);
    expect(o.error?.code).toBe(Code.UNAVAILABLE);
    expect(hub.open).toBe(1);
    release();
    expect(hub.open).toBe(0);
  });

  test('a consumer that falls behind is cut off once the node’s stream buffers are full, and only that one', async () => {
    const hub = new StreamHub(10, 10_000);
    const slow = hub.watch('');
    const fast = reader(hub.watch(''));
    const slowIt = slow[Symbol.asyncIterator]();
    for (let i = 0; i < 200; i++) {
      hub.onEvent(lock(`a/${i}`, i));
      await tick(); // the fast consumer keeps up; the slow one reads nothing
    }
    expect(hub.bufferedBytes).toBeLessThanOrEqual(10_000);
    await expect(slowIt.next()).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    expect(fast.error).toBeUndefined();
    expect(fast.items).toHaveLength(200);
    expect(hub.open).toBe(1);
    expect(hub.bufferedBytes).toBe(0);
  });
});
