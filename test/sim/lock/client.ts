// Simulated clients of the lock service that follow the SDK's rules (libs/client): calls go to
// the node believed to lead and are retried on UNAVAILABLE or an attempt timeout, on another
// node, with backoff and jitter, under the same request_id; a grant counts as held until the
// last confirmed renewal's send + TTL - the SDK's margin, on the client's own clock; renewals go
// out every third of the TTL. Everything is recorded in real (simulated) time.
import { safetyMarginMs } from '@quorumlock/client';
import type { Runtime } from '../../../apps/lock-service/src/domain/runtime.js';
import type { MutexKind } from '../../../apps/lock-service/src/domain/commands.js';
import type { Belief, LockHistory, Op } from './history.js';
import { holdRequest } from './kinds.js';

/** gRPC status codes the clients act on. */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNAVAILABLE: 14,
} as const;

export interface RpcError {
  readonly code: number;
  readonly message: string;
}

/** What a failed call rejects with: an Error, carrying the status code. */
export class RpcFailure extends Error implements RpcError {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'RpcFailure';
  }
}

/** How a client process reaches the nodes (over the simulated network). */
export interface Rpc {
  unary<T>(
    node: string,
    service: string,
    method: string,
    req: object,
    timeoutMs: number,
  ): Promise<T>;
  stream(
    node: string,
    service: string,
    method: string,
    req: object,
    h: { data(m: unknown): void; end(code: number): void },
  ): () => void;
}

/** A store that only takes writes with a token at least as new as the last it took. */
export class FencedStore {
  private readonly last = new Map<string, number>();

  constructor(private readonly history: LockHistory) {}

  write(client: string, name: string, token: number, at: number): boolean {
    const accepted = token >= (this.last.get(name) ?? 0);
    if (accepted) this.last.set(name, token);
    this.history.writes.push({ client, name, token, at, accepted });
    return accepted;
  }
}

export interface ClientEnv {
  readonly id: string;
  /** The identity its calls carry: several clients may share one, as replicas of a service. */
  readonly principal: string;
  readonly runtime: Runtime;
  readonly rand: () => number;
  readonly rpc: Rpc;
  readonly nodes: readonly string[];
  readonly history: LockHistory;
  readonly store: FencedStore;
  /** Real time, for the record only: the client decides on its own clock. */
  readonly realNow: () => number;
  /** This client's local time as real time. */
  readonly toReal: (local: number) => number;
  /**
   * Told when the client walks away from a lease without releasing it. lastTouch: the real time
   * after which no request of this client can still renew it (the last one's answer, or, for one
   * that failed or is still out, its send plus what the network and a paused node may delay it).
   */
  readonly abandon: (lease: string, lastTouch: number) => void;
}

const ATTEMPT_TIMEOUT_MS = 1_000;
/** How long after it was given up a request may still reach the leader and apply. */
export const IN_FLIGHT_MS = 1_500;
const CALL_BUDGET_MS = 4_000;

const isRetryable = (e: RpcError) =>
  e.code === Status.UNAVAILABLE || e.code === Status.DEADLINE_EXCEEDED || e.code === Status.ABORTED;

/** One simulated client process. */
export class SimClient {
  private preferred = 0;
  private seq = 0;
  private stopped = false;
  private crashedAt: number | undefined;
  /** Beliefs this client holds now; closed when the process stops or crashes. */
  private readonly open = new Set<Belief>();
  /** Per lease: when this client last could have renewed it, and its calls still out. */
  private readonly touch = new Map<string, { at: number; out: number; abandoned?: boolean }>();

  /** Runs a call that may renew lease, keeping track of when it could have. */
  private async touching<T>(lease: string, call: () => Promise<T>): Promise<T> {
    const t = this.touch.get(lease) ?? { at: this.env.realNow(), out: 0 };
    this.touch.set(lease, t);
    t.out++;
    try {
      const r = await call();
      t.at = Math.max(t.at, this.env.realNow());
      return r;
    } catch (e) {
      t.at = Math.max(t.at, this.env.realNow() + IN_FLIGHT_MS);
      throw e;
    } finally {
      t.out--;
      // Walked away from while this call was out: abandoned once nothing of ours can renew it.
      if (t.out === 0 && t.abandoned && !this.crashedAt) this.env.abandon(lease, t.at);
    }
  }

  /** The client gives up a lease without releasing it (its calls still out may renew it). */
  private walkAway(lease: string): void {
    const t = this.touch.get(lease);
    if (t && t.out > 0) t.abandoned = true;
    else this.env.abandon(lease, this.lastTouch(lease));
  }

  private lastTouch(lease: string): number {
    const t = this.touch.get(lease);
    const now = this.env.realNow();
    if (!t) return now;
    return t.out > 0 ? Math.max(t.at, now + IN_FLIGHT_MS) : t.at;
  }

  constructor(readonly env: ClientEnv) {
    this.preferred = Math.floor(env.rand() * env.nodes.length);
  }

  stop(): void {
    this.stopped = true;
  }

  /** The process died (or froze for good): it believes nothing from now on. */
  crashed(): void {
    this.stopped = true;
    this.crashedAt = this.env.realNow();
    const now = this.env.realNow();
    for (const b of this.open) {
      b.to = Math.min(b.to, now);
      if (b.releasedAt === undefined) this.env.abandon(b.lease, this.lastTouch(b.lease));
    }
    this.open.clear();
  }

  get running(): boolean {
    return !this.stopped;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.env.runtime.after(ms, r));
  }

  // ---- calls with the SDK's retry rules -------------------------------------------------------

  /**
   * Calls the node believed to lead; on UNAVAILABLE or an attempt timeout, the next node after a
   * jittered backoff, with the same request (and so request_id), until the budget is spent.
   * Resolves with the answer or rejects with the last error.
   */
  async call<T>(
    service: string,
    method: string,
    req: () => object,
    budgetMs: number,
    waitMs = 0,
    op?: Op,
  ): Promise<T> {
    const { runtime, rpc, nodes, rand } = this.env;
    const deadline = runtime.now() + budgetMs;
    let failures = 0;
    for (;;) {
      if (op) op.attempts = (op.attempts ?? 0) + 1;
      const node = nodes[this.preferred % nodes.length]!;
      const left = deadline - runtime.now();
      try {
        return await rpc.unary<T>(
          node,
          service,
          method,
          req(),
          Math.min(left, waitMs + ATTEMPT_TIMEOUT_MS),
        );
      } catch (e) {
        const err = e as RpcFailure;
        if (!isRetryable(err) || this.stopped) throw err;
        this.preferred++;
        failures++;
        const ceiling = Math.min(1000, 50 * 2 ** failures);
        const pause = ceiling / 2 + rand() * (ceiling / 2);
        if (runtime.now() + pause >= deadline) throw err;
        await this.sleep(pause);
      }
    }
  }

  // ---- locks and elections --------------------------------------------------------------------

  /**
   * Acquire (or Campaign): try or wait; if granted, hold it for a while, renewing it and writing
   * to the fenced store while the SDK says it is held, then release it, or walk away from it.
   */
  async hold(
    kind: MutexKind,
    name: string,
    o: {
      ttl: number;
      waitMs: number;
      holdMs: number;
      abandon: boolean;
      noRequestId?: boolean;
      alsoWaitFor?: string;
    },
  ) {
    const { runtime, history } = this.env;
    const owner = `${this.env.id}#${++this.seq}`;
    // Raw gRPC users may send a try without a request_id; the SDK always names its requests.
    const requestId = o.noRequestId && o.waitMs === 0 ? '' : `${this.env.id}-${this.seq}`;
    const sentAt = runtime.now();
    const op = history.begin({
      client: this.env.id,
      principal: this.env.principal,
      kind: kind === 'lock' ? 'acquire' : 'campaign',
      mutex: kind,
      name,
      requestId,
      lease: '',
      invoke: this.env.realNow(),
    });
    const service = kind === 'lock' ? 'LockService' : 'ElectionService';
    const method = kind === 'lock' ? 'Acquire' : 'Campaign';
    const hold = kind === 'lock' ? holdRequest(name, this.env.rand) : undefined;
    type Grant = {
      acquired?: boolean;
      elected?: boolean;
      lease_id: string;
      fencing_token: number;
      ttl_ms: number;
    };
    let g: Grant;
    try {
      g = await this.call<Grant>(
        service,
        method,
        () => ({
          ...(hold
            ? {
                name,
                owner,
                mode: hold.shared ? 1 : 0,
                limit: hold.limit,
                lock_delay_ms: hold.delayMs,
              }
            : { election: name, candidate: owner, value: `v${this.seq}` }),
          ttl_ms: o.ttl,
          wait_ms: o.waitMs && Math.max(1, Math.round(sentAt + o.waitMs - runtime.now())),
          request_id: requestId,
        }),
        CALL_BUDGET_MS + o.waitMs,
        o.waitMs,
        op,
      );
    } catch (e) {
      this.finish(op, e as RpcError);
      return;
    }
    const granted = kind === 'lock' ? g.acquired : g.elected;
    op.complete = this.env.realNow();
    op.outcome = 'ok';
    op.owner = owner;
    if (!granted) return;
    op.grant = { lease: g.lease_id, token: Number(g.fencing_token), ttl: g.ttl_ms };
    await this.keep(kind, name, g.lease_id, Number(g.fencing_token), g.ttl_ms, sentAt, requestId, {
      ...o,
      ...(hold && (hold.shared || hold.limit > 1) ? { kind: hold } : {}),
    });
  }

  private async keep(
    kind: MutexKind,
    name: string,
    lease: string,
    token: number,
    ttl: number,
    sentAt: number,
    requestId: string,
    o: {
      holdMs: number;
      abandon: boolean;
      alsoWaitFor?: string;
      /** A SHARED or semaphore hold: held next to others, so it writes to no fenced store. */
      kind?: { shared: boolean; limit: number };
    },
  ): Promise<void> {
    const { runtime, rand } = this.env;
    const margin = safetyMarginMs(ttl);
    let validUntil = sentAt + ttl;
    let lastSend = sentAt;
    let lost = runtime.now() >= validUntil - margin;
    /** What this lease holds, as the client believes it: every lock ends with the lease. */
    const beliefs: { b: Belief; validUntil: number }[] = [];
    const believe = (b: Omit<Belief, 'from' | 'to' | 'promises'>, send: number, until: number) => {
      const belief: Belief = {
        ...b,
        from: this.env.realNow(),
        // Until the SDK would stop claiming it, unless it learns sooner that it lost it.
        to: this.env.toReal(Math.min(until, validUntil) - margin),
        promises: [{ send: this.env.toReal(send), ttl: until - send }],
      };
      beliefs.push({ b: belief, validUntil: until });
      this.env.history.beliefs.push(belief);
      this.open.add(belief);
    };
    const shared = o.kind?.shared ? { shared: true } : {};
    const limit = o.kind && o.kind.limit > 1 ? { limit: o.kind.limit } : {};
    if (!lost)
      believe(
        {
          client: this.env.id,
          mutex: kind,
          name,
          lease,
          token,
          ttl,
          requestId,
          ...shared,
          ...limit,
        },
        sentAt,
        validUntil,
      );
    const held = () => !lost && !this.stopped && runtime.now() < validUntil - margin;
    /** The lease was released or given up: a grant that comes now is not believed. */
    let ended = false;
    // A caller's own lease, waiting for a second lock: the server does not keep it alive for
    // the wait; this client's renewals do.
    if (o.alsoWaitFor && kind === 'lock' && !lost) {
      const other = o.alsoWaitFor;
      void this.touching(lease, () => this.acquireOn(lease, other, ttl)).then((g) => {
        if (!g || lost || ended || this.stopped) return;
        // The SDK counts the grant from its request's send: it may be over already.
        if (runtime.now() >= Math.min(g.sentAt + g.ttl, validUntil) - margin) return;
        believe(
          {
            client: this.env.id,
            mutex: 'lock',
            name: other,
            lease,
            token: g.token,
            ttl,
            requestId: g.requestId,
          },
          g.sentAt,
          g.sentAt + g.ttl,
        );
      });
    }
    const end = runtime.now() + o.holdMs;
    while (held() && runtime.now() < end) {
      // Renew a third of the TTL after the last renewal was sent, or write, whichever is due.
      const due = lastSend + ttl / 3;
      if (runtime.now() >= due) {
        const send = runtime.now();
        lastSend = send;
        try {
          await this.touching(lease, () =>
            this.call('LockService', 'Renew', () => ({ lease_id: lease }), Math.max(100, ttl / 2)),
          );
          if (send + ttl > validUntil && !lost) {
            validUntil = send + ttl;
            for (const x of beliefs) {
              x.validUntil = Math.max(x.validUntil, validUntil);
              x.b.promises.push({ send: this.env.toReal(send), ttl });
              x.b.to = this.env.toReal(x.validUntil - margin);
            }
          }
        } catch (e) {
          if ((e as RpcError).code === Status.NOT_FOUND) {
            lost = true;
            for (const x of beliefs) x.b.to = Math.min(x.b.to, this.env.realNow());
          }
        }
        continue;
      }
      await this.sleep(Math.min(due - runtime.now(), 20 + (rand() * ttl) / 4));
      if (kind === 'election' && held() && rand() < 0.15)
        await this.proclaim(name, lease, `v${this.seq}.${Math.floor(rand() * 100)}`);
      for (const x of beliefs)
        if (!o.kind && held() && runtime.now() < x.validUntil - margin && rand() < 0.5)
          this.env.store.write(
            this.env.id,
            `${x.b.mutex}:${x.b.name}`,
            x.b.token,
            this.env.realNow(),
          );
    }
    ended = true;
    if (this.stopped) return;
    for (const x of beliefs) this.open.delete(x.b);
    if (o.abandon) {
      this.walkAway(lease);
      return;
    }
    const releasedAt = this.env.realNow();
    for (const x of beliefs) {
      x.b.releasedAt = releasedAt;
      x.b.to = Math.min(x.b.to, releasedAt);
    }
    const op = this.env.history.begin({
      client: this.env.id,
      principal: this.env.principal,
      kind: kind === 'lock' ? 'release' : 'resign',
      mutex: kind,
      name,
      requestId: '',
      lease,
      invoke: this.env.realNow(),
    });
    try {
      if (kind === 'lock')
        await this.call(
          'LockService',
          'Release',
          () => ({ lease_id: lease, name: '' }),
          CALL_BUDGET_MS,
        );
      else
        await this.call(
          'ElectionService',
          'Resign',
          () => ({ election: name, lease_id: lease }),
          CALL_BUDGET_MS,
        );
      op.complete = this.env.realNow();
      op.outcome = 'ok';
    } catch (e) {
      this.finish(op, e as RpcError);
    }
  }

  /** Acquire with a lease this client already holds, waiting; the grant if granted. */
  private async acquireOn(
    lease: string,
    name: string,
    ttl: number,
  ): Promise<{ token: number; ttl: number; sentAt: number; requestId: string } | undefined> {
    const { runtime, history } = this.env;
    const owner = `${this.env.id}#${++this.seq}`;
    const requestId = `${this.env.id}-${this.seq}`;
    const waitMs = 200 + this.env.rand() * ttl;
    const sentAt = runtime.now();
    const op = history.begin({
      client: this.env.id,
      principal: this.env.principal,
      kind: 'acquire',
      mutex: 'lock',
      name,
      requestId,
      lease,
      invoke: this.env.realNow(),
    });
    try {
      const g = await this.call<{ acquired: boolean; fencing_token: number; ttl_ms: number }>(
        'LockService',
        'Acquire',
        () => ({
          name,
          owner,
          lease_id: lease,
          wait_ms: Math.max(1, Math.round(sentAt + waitMs - runtime.now())),
          request_id: requestId,
        }),
        CALL_BUDGET_MS + waitMs,
        waitMs,
        op,
      );
      op.complete = this.env.realNow();
      op.outcome = 'ok';
      op.owner = owner;
      if (!g.acquired) return undefined;
      op.grant = { lease, token: Number(g.fencing_token), ttl: g.ttl_ms };
      return { token: Number(g.fencing_token), ttl: g.ttl_ms, sentAt, requestId };
    } catch (e) {
      this.finish(op, e as RpcError);
      return undefined;
    }
  }

  /** ListMembers, recorded for the linearizability check of the members list. */
  async members(): Promise<void> {
    const op = this.env.history.begin({
      client: this.env.id,
      principal: this.env.principal,
      kind: 'members',
      mutex: 'lock',
      name: '',
      requestId: '',
      lease: '',
      invoke: this.env.realNow(),
    });
    try {
      const m = await this.call<{ members: { id: string; client_address: string }[] }>(
        'ClusterService',
        'ListMembers',
        () => ({}),
        CALL_BUDGET_MS,
      );
      op.members = Object.fromEntries(m.members.map((x) => [x.id, x.client_address]));
      op.complete = this.env.realNow();
      op.outcome = 'ok';
    } catch (e) {
      this.finish(op, e as RpcError);
    }
  }

  /** Proclaim a new value as the leader of an election (FAILED_PRECONDITION if not). */
  async proclaim(election: string, lease: string, value: string): Promise<void> {
    const op = this.env.history.begin({
      client: this.env.id,
      principal: this.env.principal,
      kind: 'proclaim',
      mutex: 'election',
      name: election,
      requestId: '',
      lease,
      invoke: this.env.realNow(),
    });
    try {
      await this.call(
        'ElectionService',
        'Proclaim',
        () => ({ election, lease_id: lease, value }),
        CALL_BUDGET_MS,
      );
      op.complete = this.env.realNow();
      op.outcome = 'ok';
    } catch (e) {
      this.finish(op, e as RpcError);
    }
  }

  /** Describe (a lock) or Leader (an election), recorded for the linearizability check. */
  async read(kind: MutexKind, name: string): Promise<void> {
    const op = this.env.history.begin({
      client: this.env.id,
      principal: this.env.principal,
      kind: kind === 'lock' ? 'describe' : 'leader',
      mutex: kind,
      name,
      requestId: '',
      lease: '',
      invoke: this.env.realNow(),
    });
    try {
      if (kind === 'lock') {
        const d = await this.call<{ held: boolean; owner: string; fencing_token: number }>(
          'LockService',
          'Describe',
          () => ({ name }),
          CALL_BUDGET_MS,
        );
        op.holder = { owner: d.owner, token: d.held ? Number(d.fencing_token) : 0 };
      } else {
        const l = await this.call<{
          has_leader: boolean;
          candidate: string;
          fencing_token: number;
        }>('ElectionService', 'Leader', () => ({ election: name }), CALL_BUDGET_MS);
        op.holder = { owner: l.candidate, token: l.has_leader ? Number(l.fencing_token) : 0 };
      }
      op.complete = this.env.realNow();
      op.outcome = 'ok';
    } catch (e) {
      this.finish(op, e as RpcError);
    }
  }

  /** Records a failed call's outcome on its op. */
  finish(op: Op, e: RpcError): void {
    op.complete = this.env.realNow();
    op.code = e.code;
    // Only a refusal that changed nothing is certain (another identity's lease is refused
    // where the entry applies, without effect); anything else may have happened.
    op.outcome =
      e.code === Status.INVALID_ARGUMENT ||
      e.code === Status.RESOURCE_EXHAUSTED ||
      e.code === Status.PERMISSION_DENIED
        ? 'fail'
        : 'unknown';
  }

  // ---- streams --------------------------------------------------------------------------------

  /**
   * Keeps a Watch (of a prefix) or an Observe (of an election) open on a node for `ms`, recording
   * what it delivers; a stream that ends is opened again, on the next node.
   */
  async watchFor(kind: 'watch' | 'observe', key: string, ms: number): Promise<void> {
    const { runtime, rpc, nodes, history } = this.env;
    const until = runtime.now() + ms;
    while (!this.stopped && runtime.now() < until) {
      const node = nodes[this.preferred++ % nodes.length]!;
      const rec = {
        id: history.streams.length,
        client: this.env.id,
        node,
        kind,
        key,
        opened: this.env.realNow(),
        items: [] as { at: number; name: string; type: number; owner: string; token: number }[],
        closed: undefined as number | undefined,
        endCode: undefined as number | undefined,
      };
      history.streams.push(rec);
      const ended = new Promise<void>((resolve) => {
        const cancel = rpc.stream(
          node,
          kind === 'watch' ? 'LockService' : 'ElectionService',
          kind === 'watch' ? 'Watch' : 'Observe',
          kind === 'watch' ? { prefix: key } : { election: key },
          {
            data: (m) => {
              const at = this.env.realNow();
              if (kind === 'watch') {
                const w = m as { name: string; type: number; owner: string; fencing_token: number };
                rec.items.push({
                  at,
                  name: w.name,
                  type: w.type,
                  owner: w.owner,
                  token: Number(w.fencing_token),
                });
              } else {
                const l = m as {
                  has_leader: boolean;
                  candidate: string;
                  value: string;
                  fencing_token: number;
                };
                rec.items.push({
                  at,
                  name: key,
                  type: 0,
                  owner: l.has_leader ? `${l.candidate}\u0000${l.value}` : '',
                  token: l.has_leader ? Number(l.fencing_token) : 0,
                });
              }
            },
            end: (code) => {
              rec.closed = this.env.realNow();
              rec.endCode = code;
              resolve();
            },
          },
        );
        runtime.after(Math.max(0, until - runtime.now()), () => {
          cancel();
          resolve();
        });
      });
      await ended;
      if (rec.closed === undefined) rec.closed = this.env.realNow();
      await this.sleep(20 + this.env.rand() * 100);
    }
  }
}
