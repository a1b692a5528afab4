// Client RPCs and forwarded calls over the simulated network, with gRPC's semantics where the
// lock service depends on them: a deadline the server sees, cancellation when the caller gives
// up (or its host dies, noticed by keepalive), status codes, and server streams.
import type { CallContext, LockApi } from '../../../apps/lock-service/src/domain/api.js';
import { Code, DomainError, unavailable } from '../../../apps/lock-service/src/domain/errors.js';
import type { ForwardPort, ServiceName } from '../../../apps/lock-service/src/domain/router.js';
import type { SimHost, SimNetwork } from '../world/index.js';
import { type Rpc, type RpcError, RpcFailure, Status } from './client.js';

const API_PORT = 'api';
const REPLY_PORT = 'reply';
/** A call whose caller's host is dead or cut off for this long is cancelled (HTTP/2 keepalive). */
export const KEEPALIVE_MS = 2_000;

type Call = {
  kind: 'call' | 'stream';
  id: number;
  from: string;
  /** The caller's process: a reply to a process that died never reaches its successor. */
  inc: number;
  method: string;
  req: object;
  /** Relative, like gRPC's grpc-timeout header. */
  timeoutMs: number;
  forwardedBy?: { id: string; clientAddress: string };
  /**
   * The caller's identity. The simulated network stands in for authentication: a client's
   * calls carry its own, a forwarded call the one its member authenticated.
   */
  principal?: string;
};
type Cancel = { kind: 'cancel'; id: number; from: string; inc: number };
type Reply = (
  | { kind: 'ok'; id: number; value: unknown }
  | { kind: 'error'; id: number; code: number; message: string }
  /** Stream messages carry their position: the network may lose, copy and reorder them. */
  | { kind: 'data'; id: number; seq: number; value: unknown }
  | { kind: 'end'; id: number; seq: number; code: number }
) & { inc?: number };

/** How long a stream waits for a message that went missing before it counts as broken. */
const STREAM_GAP_MS = 200;

const METHODS: Record<string, keyof LockApi> = {
  Acquire: 'acquire',
  Renew: 'renew',
  Release: 'release',
  Describe: 'describe',
  Campaign: 'campaign',
  Proclaim: 'proclaim',
  Resign: 'resign',
  Leader: 'leader',
  Status: 'status',
  ListMembers: 'listMembers',
  TransferLeadership: 'transferLeadership',
  Watch: 'watch',
  Observe: 'observe',
};

function toRpcError(e: unknown): RpcError {
  if (e instanceof DomainError) return { code: e.code, message: e.message };
  return { code: Status.UNAVAILABLE, message: (e as Error)?.message ?? String(e) };
}

/** Serves a node's LockApi on its host's API port for as long as that incarnation lives. */
export function serveApi(host: SimHost, net: SimNetwork, api: LockApi): void {
  const live = new Map<string, AbortController>();
  /** Calls already taken: a copy the network made is not a second call (HTTP/2 has none). */
  const seen = new Set<string>();
  const key = (from: string, inc: number, id: number) => `${from}#${inc}/${id}`;
  net.listen<Call | Cancel>(host, API_PORT, (m) => {
    if (m.kind === 'cancel') {
      live.get(key(m.from, m.inc, m.id))?.abort(new Error('call cancelled'));
      return;
    }
    const k = key(m.from, m.inc, m.id);
    if (seen.has(k)) return;
    seen.add(k);
    if (seen.size > 100_000) seen.delete(seen.values().next().value!);
    const controller = new AbortController();
    live.set(k, controller);
    const reply = (r: Reply) => {
      host.world.trace(
        () => `${host.name} reply ${m.from}/${m.id} ${m.method} ${JSON.stringify(r)}`,
      );
      net.post(host, m.from, REPLY_PORT, { ...r, inc: m.inc });
    };
    host.world.trace(
      () =>
        `${host.name} call ${m.from}/${m.id} ${m.method}${m.forwardedBy ? ' (forwarded)' : ''} ${JSON.stringify(m.req)}`,
    );
    const watchdog = keepalive(host, net, m.from, controller);
    const done = () => {
      live.delete(k);
      watchdog();
    };
    const ctx: CallContext = {
      deadline: host.now() + m.timeoutMs,
      signal: controller.signal,
      forwarded: m.forwardedBy !== undefined,
      ...(m.forwardedBy ? { forwardedBy: m.forwardedBy } : {}),
      ...(m.principal !== undefined ? { principal: m.principal } : {}),
    };
    const method = METHODS[m.method];
    if (!method) {
      reply({ kind: 'error', id: m.id, code: 12, message: `unimplemented ${m.method}` });
      return done();
    }
    if (m.kind === 'stream') {
      let seq = 0;
      const send = (r: { kind: 'data'; value: unknown } | { kind: 'end'; code: number }) =>
        reply({ ...r, id: m.id, seq: seq++ });
      void pumpStream(api, method, m, ctx, controller.signal, send).finally(done);
      return;
    }
    // The deadline ends the call on the server too, as gRPC does.
    const timer = host.after(m.timeoutMs, () => controller.abort(new Error('deadline')));
    Promise.resolve()
      .then(() => (api[method] as (r: object, c: CallContext) => Promise<unknown>)(m.req, ctx))
      .then(
        (value) => reply({ kind: 'ok', id: m.id, value }),
        (e: unknown) => reply({ kind: 'error', id: m.id, ...toRpcError(e) }),
      )
      .finally(() => {
        timer.cancel();
        done();
      });
  });
}

async function pumpStream(
  api: LockApi,
  method: keyof LockApi,
  m: Call,
  ctx: CallContext,
  signal: AbortSignal,
  reply: (r: { kind: 'data'; value: unknown } | { kind: 'end'; code: number }) => void,
): Promise<void> {
  let it: AsyncIterator<unknown> | undefined;
  try {
    const source = (api[method] as (r: object, c: CallContext) => AsyncIterable<unknown>)(
      m.req,
      ctx,
    );
    it = source[Symbol.asyncIterator]();
    const stop = () => void it?.return?.();
    signal.addEventListener('abort', stop, { once: true });
    for (;;) {
      const next = await it.next();
      if (next.done || signal.aborted) break;
      reply({ kind: 'data', value: next.value });
    }
    reply({ kind: 'end', code: signal.aborted ? Status.CANCELLED : Status.OK });
  } catch (e) {
    reply({ kind: 'end', code: toRpcError(e).code });
  }
}

/** Cancels a call once its caller has been dead or unreachable for KEEPALIVE_MS. */
function keepalive(host: SimHost, net: SimNetwork, caller: string, c: AbortController): () => void {
  let since: number | undefined;
  let stopped = false;
  const check = () => {
    if (stopped || c.signal.aborted) return;
    const h = host.world.host(caller);
    const gone =
      !h ||
      h.crashed ||
      h.frozen ||
      net.isBlocked(host.id, caller) ||
      net.isBlocked(caller, host.id);
    const now = host.now();
    since = gone ? (since ?? now) : undefined;
    if (since !== undefined && now - since >= KEEPALIVE_MS) c.abort(new Error('keepalive timeout'));
    else host.after(500, check);
  };
  host.after(500, check);
  return () => (stopped = true);
}

/** Where replies to one host's calls arrive, and the calls waiting for them. */
class Caller {
  private next = 0;
  readonly pending = new Map<number, (r: Reply) => void>();

  /** principal: the identity this host's calls carry (a client's); none for a node's own. */
  constructor(
    readonly host: SimHost,
    readonly net: SimNetwork,
    private readonly principal?: string,
  ) {
    net.listen<Reply>(host, REPLY_PORT, (r) => {
      if (r.inc === host.incarnation) this.pending.get(r.id)?.(r);
    });
  }

  /** A unary call; rejects with an RpcError. */
  unary<T>(
    node: string,
    method: string,
    req: object,
    timeoutMs: number,
    by?: Call['forwardedBy'],
    signal?: AbortSignal,
    principal = this.principal,
  ): Promise<T> {
    const id = ++this.next;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.net.post<Cancel>(this.host, node, API_PORT, {
          kind: 'cancel',
          id,
          from: this.host.id,
          inc: this.host.incarnation,
        });
        finish(() => reject(new RpcFailure(Status.CANCELLED, 'call cancelled')));
      };
      const finish = (f: () => void) => {
        if (!this.pending.has(id)) return;
        this.pending.delete(id);
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        f();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer = this.host.after(timeoutMs, () => {
        this.net.post<Cancel>(this.host, node, API_PORT, {
          kind: 'cancel',
          id,
          from: this.host.id,
          inc: this.host.incarnation,
        });
        finish(() => reject(new RpcFailure(Status.DEADLINE_EXCEEDED, 'deadline exceeded')));
      });
      this.pending.set(id, (r) => {
        if (r.kind === 'ok') finish(() => resolve(r.value as T));
        else if (r.kind === 'error') finish(() => reject(new RpcFailure(r.code, r.message)));
      });
      const call: Call = {
        kind: 'call',
        id,
        from: this.host.id,
        inc: this.host.incarnation,
        method,
        req,
        timeoutMs,
        forwardedBy: by,
        ...(principal !== undefined ? { principal } : {}),
      };
      const verdict = this.net.post(this.host, node, API_PORT, call);
      // Connection refused (the node is down): the caller learns at once, a little later.
      if (verdict === 'down')
        this.host.after(1, () =>
          finish(() => reject(new RpcFailure(Status.UNAVAILABLE, `${node} is down`))),
        );
    });
  }

  stream(
    node: string,
    method: string,
    req: object,
    h: { data(m: unknown): void; end(code: number): void },
  ) {
    const id = ++this.next;
    let over = false;
    let expected = 0;
    const early = new Map<number, Reply>();
    let gapTimer: { cancel(): void } | undefined;
    const end = (code: number) => {
      if (over) return;
      over = true;
      gapTimer?.cancel();
      this.pending.delete(id);
      h.end(code);
    };
    // In order, each once, like a stream on one connection; a message lost for good breaks it.
    const take = (r: Reply) => {
      if (over || (r.kind !== 'data' && r.kind !== 'end') || r.seq < expected) return;
      early.set(r.seq, r);
      for (let next = early.get(expected); next && !over; next = early.get(expected)) {
        early.delete(expected++);
        if (next.kind === 'data') h.data(next.value);
        else if (next.kind === 'end') end(next.code);
      }
      gapTimer?.cancel();
      gapTimer = early.size > 0 ? this.host.after(STREAM_GAP_MS, () => broken()) : undefined;
    };
    const broken = () => {
      this.net.post<Cancel>(this.host, node, API_PORT, {
        kind: 'cancel',
        id,
        from: this.host.id,
        inc: this.host.incarnation,
      });
      end(Status.UNAVAILABLE);
    };
    this.pending.set(id, take);
    const verdict = this.net.post(this.host, node, API_PORT, {
      kind: 'stream',
      id,
      from: this.host.id,
      inc: this.host.incarnation,
      method,
      req,
      timeoutMs: 3_600_000,
      ...(this.principal !== undefined ? { principal: this.principal } : {}),
    } satisfies Call);
    if (verdict === 'down') this.host.after(1, () => end(Status.UNAVAILABLE));
    return () => {
      if (over) return;
      this.net.post<Cancel>(this.host, node, API_PORT, {
        kind: 'cancel',
        id,
        from: this.host.id,
        inc: this.host.incarnation,
      });
      end(Status.CANCELLED);
    };
  }
}

/** A client process's Rpc: its calls carry its identity. */
export function clientRpc(host: SimHost, net: SimNetwork, principal: string): Rpc {
  const c = new Caller(host, net, principal);
  return {
    unary: (node, _service, method, req, timeoutMs) => c.unary(node, method, req, timeoutMs),
    stream: (node, _service, method, req, h) => c.stream(node, method, req, h),
  };
}

/** A node's ForwardPort: its calls to the leader's API, marked as forwarded by it. */
export function simForwarder(host: SimHost, net: SimNetwork, self: string): ForwardPort {
  const c = new Caller(host, net);
  return {
    call<T>(
      address: string,
      _service: ServiceName,
      method: string,
      req: unknown,
      ctx: CallContext,
    ) {
      const timeoutMs =
        ctx.deadline === undefined ? 10_000 : Math.max(0, ctx.deadline - host.now());
      const by = { id: self, clientAddress: self };
      // Like GrpcForwarder: a call its caller has already given up on is not sent.
      if (ctx.signal?.aborted)
        return Promise.reject(new DomainError(Code.UNAVAILABLE, 'forwarded call cancelled'));
      const p = c.unary<T>(
        address,
        method,
        req as object,
        timeoutMs,
        by,
        ctx.signal,
        ctx.principal,
      );
      return p.catch((e: RpcError) => {
        // Like GrpcForwarder: the leader's own codes pass through; a leader we cannot reach is
        // UNAVAILABLE to our caller, who retries.
        if (e.code === Status.DEADLINE_EXCEEDED)
          throw new DomainError(Code.DEADLINE_EXCEEDED, e.message);
        if (e.code === Status.UNAVAILABLE || e.code === Status.CANCELLED)
          throw unavailable(`leader unreachable: ${e.message}`);
        throw new DomainError(e.code, e.message);
      });
    },
    close: () => undefined,
  };
}
