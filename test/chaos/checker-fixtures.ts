// Hand-made histories for the checker's unit tests: a few lines each, times in ms.
import type { History, Op, StoreWrite, StreamEvent } from './history.js';

export const KEY = 'lock:x';

export class H {
  private id = 0;
  readonly h: History = {
    meta: {
      seed: 0,
      nodes: 3,
      clients: 1,
      durationMs: 0,
      electionTimeoutMaxMs: 300,
      checkpointIntervalMs: 1000,
      startedAt: '',
      replay: '',
    },
    ops: [],
    writes: [],
    streams: [],
    faults: [],
    pauses: [],
    roles: [],
  };

  op(o: Partial<Op> & Pick<Op, 'kind' | 'invoke'>): Op {
    const full: Op = { id: ++this.id, client: 'c', key: KEY, complete: null, outcome: 'ok', ...o };
    this.h.ops.push(full);
    return full;
  }

  /** An acknowledged grant to `owner` (also its lease id) with token and TTL. */
  grant(
    owner: string,
    token: number,
    invoke: number,
    complete: number,
    ttlMs = 1000,
    key = KEY,
  ): Op {
    return this.op({
      kind: 'acquire',
      key,
      owner,
      client: owner,
      lease: owner,
      token,
      ttlMs,
      granted: true,
      invoke,
      complete,
    });
  }

  /** An acknowledged grant of a hold of another kind: SHARED, a semaphore's, with a lock-delay. */
  hold(
    owner: string,
    token: number,
    invoke: number,
    complete: number,
    kind: Pick<Op, 'shared' | 'limit' | 'lockDelayMs'>,
    ttlMs = 1000,
  ): Op {
    return Object.assign(this.grant(owner, token, invoke, complete, ttlMs), kind);
  }

  refused(holder: string, invoke: number, complete: number, key = KEY): Op {
    return this.op({
      kind: 'acquire',
      key,
      owner: `r${this.id}`,
      granted: false,
      holder,
      invoke,
      complete,
    });
  }

  release(lease: string, invoke: number, complete: number | null, released = true, key = KEY): Op {
    const outcome = complete === null || !released ? 'unknown' : 'ok';
    return this.op({
      kind: 'release',
      key,
      client: lease,
      lease,
      released,
      invoke,
      complete,
      outcome,
    });
  }

  renew(
    lease: string,
    invoke: number,
    complete: number,
    outcome: Op['outcome'] = 'ok',
    key = KEY,
  ): Op {
    return this.op({
      kind: 'renew',
      key,
      client: lease,
      lease,
      invoke,
      complete,
      outcome,
      ttlMs: 1000,
    });
  }

  read(holder: string | null, token: number, invoke: number, complete: number, key = KEY): Op {
    return this.op({
      kind: 'describe',
      key,
      held: holder !== null,
      holder: holder ?? '',
      token,
      invoke,
      complete,
    });
  }

  /** A read of a lock listing every holder, as [owner, token, shared], oldest first. */
  readHolders(holders: [string, number, boolean][], invoke: number, complete: number): Op {
    const [first] = holders;
    return this.op({
      kind: 'describe',
      held: first !== undefined,
      holder: first?.[0] ?? '',
      token: first?.[1] ?? 0,
      holders: holders.map(([owner, token, shared]) => ({ owner, token, shared })),
      invoke,
      complete,
    });
  }

  write(w: Partial<StoreWrite> & Pick<StoreWrite, 'at' | 'token' | 'accepted'>): void {
    this.h.writes.push({ key: KEY, client: 'c', ...w });
  }

  event(e: Partial<StreamEvent> & Pick<StreamEvent, 'at' | 'kind'>): void {
    this.h.streams.push({ stream: 'raw-observe-1', key: KEY, owner: '', token: 0, ...e });
  }
}
