// What a lock-service simulation records: the clients' operations and beliefs in real
// (simulated) time, and what every node applied. The checker reads nothing else.
import type { SmEvent } from '../../../apps/lock-service/src/domain/events.js';
import type { MutexKind } from '../../../apps/lock-service/src/domain/commands.js';

export type Outcome = 'ok' | 'fail' | 'unknown';

/** One client call, from invocation to completion (real time). */
export interface Op {
  readonly id: number;
  readonly client: string;
  /** The identity the client called as. */
  readonly principal: string;
  readonly kind:
    | 'acquire'
    | 'campaign'
    | 'renew'
    | 'release'
    | 'resign'
    | 'proclaim'
    | 'describe'
    | 'leader'
    | 'members';
  readonly mutex: MutexKind;
  readonly name: string;
  readonly requestId: string;
  readonly lease: string;
  readonly invoke: number;
  complete?: number;
  outcome?: Outcome;
  /** gRPC status code of a failure. */
  code?: number;
  /** acquire/campaign: the grant, if granted. */
  grant?: { lease: string; token: number; ttl: number };
  /** acquire/campaign answered: the owner it asked as (unique per call). */
  owner?: string;
  /** release/resign answered: whether it released anything. */
  released?: boolean;
  /** Attempts the client made (retries repeat the request, under its request_id if any). */
  attempts?: number;
  /** describe/leader: the holder seen ('' if none) and its token. */
  holder?: { owner: string; token: number };
  /** members: each member's client address as answered ('' if unknown). */
  members?: Record<string, string>;
}

/**
 * A grant as its client believed it: from the answer until the SDK's validity ran out (last
 * confirmed renewal's send + TTL - margin, on the client's clock, converted to real time), the
 * client released it, or learnt it lost. Writes to the fenced store happen inside it.
 * (Promise times are converted from the client's clock at its rate: they are exact.)
 */
export interface Belief {
  readonly client: string;
  readonly mutex: MutexKind;
  readonly name: string;
  readonly lease: string;
  readonly token: number;
  readonly ttl: number;
  readonly requestId: string;
  /** A SHARED hold, and the name's limit (a semaphore's above 1); absent: a mutex's hold. */
  readonly shared?: boolean;
  readonly limit?: number;
  readonly from: number;
  to: number;
  /**
   * What the server promised, in the client's terms: the grant's send and the TTL it answered,
   * then each confirmed renewal's send and the full TTL. The lease may not expire before
   * send + ttl (real time) of any of them.
   */
  readonly promises: { send: number; ttl: number }[];
  /** Real time the client sent a release of this lease, if it did. */
  releasedAt?: number;
}

export interface StoreWrite {
  readonly client: string;
  readonly name: string;
  readonly token: number;
  readonly at: number;
  readonly accepted: boolean;
}

/** One stream as its client saw it (Watch or Observe). */
export interface StreamRecord {
  readonly id: number;
  readonly client: string;
  readonly node: string;
  readonly kind: 'watch' | 'observe';
  /** Watch: the prefix; Observe: the election. */
  readonly key: string;
  readonly opened: number;
  closed?: number;
  /** Status code it ended with (undefined while open, or when the client cancelled it). */
  endCode?: number;
  /** Watch: [name, event type, token]; Observe: [holder or '', token]. */
  readonly items: { at: number; name: string; type: number; owner: string; token: number }[];
}

/** An entry a node applied, with the events its application produced. */
export interface Applied {
  readonly node: string;
  readonly index: number;
  readonly term: number;
  /** Lease clock after its stamp. */
  readonly clock: number;
  readonly at: number;
  readonly events: SmEvent[];
}

export class LockHistory {
  readonly ops: Op[] = [];
  readonly beliefs: Belief[] = [];
  readonly writes: StoreWrite[] = [];
  readonly streams: StreamRecord[] = [];
  /** index -> the first application of it anywhere, and its events (the same on every node). */
  readonly firstApplied = new Map<number, Applied>();
  /** Intervals of real time without a functioning leader. */
  readonly leaderless: { from: number; to: number }[] = [];
  private nextOp = 0;

  begin(o: Omit<Op, 'id'>): Op {
    const op: Op = { ...o, id: this.nextOp++ };
    this.ops.push(op);
    return op;
  }

  /** Entries a node applied with other effects than the first node that applied them. */
  readonly divergent: string[] = [];

  applied(a: Applied): void {
    if (!this.firstApplied.has(a.index)) this.firstApplied.set(a.index, a);
  }

  /** A node finished applying entry index with these effects: every replica must agree. */
  compare(node: string, index: number, events: unknown[]): void {
    const first = this.firstApplied.get(index);
    if (!first || first.node === node) return;
    const [a, b] = [JSON.stringify(first.events), JSON.stringify(events)];
    if (a !== b && this.divergent.length < 100)
      this.divergent.push(`entry ${index}: ${first.node} applied ${a}, ${node} applied ${b}`);
  }

  /** Time without a functioning leader within [from, to]. */
  leaderlessWithin(from: number, to: number): number {
    let sum = 0;
    for (const l of this.leaderless)
      sum += Math.max(0, Math.min(to, l.to) - Math.max(from, l.from));
    return sum;
  }
}
