// The connection to a cluster: channels to every endpoint, leader tracking, and unary calls
// with bounded, jittered retries.
import * as grpc from '@grpc/grpc-js';
import { setMaxListeners } from 'node:events';
import { DeadlineExceededError, fromGrpcError, isServiceError, QuorumLockError } from './errors.js';
import {
  API_DEFINITIONS,
  type MethodName,
  type Request,
  type Response,
  type ServiceName,
} from './proto.js';
import { ignoreRejection } from '../../common/src/ignore.js';

export interface TlsOptions {
  /** PEM root certificates; default: the system's. */
  readonly ca?: Buffer | string;
  /** PEM client certificate and key, for mutual TLS. */
  readonly cert?: Buffer | string;
  readonly key?: Buffer | string;
}

export interface RetryOptions {
  /** Attempts per call, the first included (default 8). */
  readonly maxAttempts?: number;
  /** Backoff before the second attempt; doubles up to maxBackoffMs (defaults 50 and 1000). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export interface ConnectionOptions {
  readonly endpoints: readonly string[];
  /** true: TLS with the system roots; an object: TLS with these PEMs; credentials: used as is. */
  readonly tls?: boolean | TlsOptions | grpc.ChannelCredentials;
  readonly retry?: RetryOptions;
  /** Bearer token sent as `authorization: Bearer <token>` on every call and stream. */
  readonly token?: string;
}

/** Per-call controls every SDK method accepts. */
export interface CallOptions {
  /** Budget for the whole call, retries included (default: the client's callTimeoutMs). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface UnaryOptions {
  /** Monotonic (performance.now()) time by which the whole call must end. */
  readonly deadline: number;
  /** The longest one attempt may take before the next endpoint is tried. */
  readonly attemptTimeoutMs: number;
  readonly signal?: AbortSignal;
}

interface Endpoint {
  readonly address: string;
  readonly client: grpc.Client;
  /** Monotonic time of the latest failure; recently failed endpoints are tried last. */
  failedAt: number;
}

const FAILED_RECENTLY_MS = 1000;
const REFRESH_EVERY_MS = 250;
const RECHECK_LEADER_MS = 10_000;
const STATUS_TIMEOUT_MS = 1000;
/**
 * An attempt unanswered this long makes the connection ask every endpoint who leads, again
 * after SUSPECT_AFTER_MS, then at twice the interval each time up to SUSPECT_POLL_MAX_MS for as
 * long as it waits: a leader that is paused or cut off answers nothing (no error to fail over
 * on) while the others elect a new one within an election timeout or two. The backoff keeps a
 * long, healthy wait in a queue from costing the cluster more than a few Status calls a second.
 */
const SUSPECT_AFTER_MS = 250;
const SUSPECT_POLL_MAX_MS = 2000;

/** Reconnect quickly: a restarted node should be usable again within seconds, not minutes. */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 2000,
};

function credentials(tls: ConnectionOptions['tls']): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  if (tls instanceof grpc.ChannelCredentials) return tls;
  if (tls === true) return grpc.credentials.createSsl();
  const buf = (v?: Buffer | string) => (v === undefined ? null : Buffer.from(v));
  return grpc.credentials.createSsl(buf(tls.ca), buf(tls.key), buf(tls.cert));
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      // The caller's own abort reason, whatever it is, as fetch() rejects with it.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      reject(signal!.reason);
    };
    if (signal?.aborted) return onAbort();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

const wallDeadline = (monotonic: number) => new Date(Date.now() + (monotonic - performance.now()));

export class ClusterConnection {
  private readonly endpoints: Endpoint[];
  /** Clients for addresses outside the endpoint list (Status of every member, for the CLI). */
  private readonly extra = new Map<string, grpc.Client>();
  private readonly creds: grpc.ChannelCredentials;
  private readonly closing = new AbortController();
  private leader: Endpoint | undefined;
  /** The term the leader was reported in: an answer from an older term is a stale one. */
  private leaderTerm = -1n;
  /** Told of every leader learned; attempts waiting on another endpoint move to it. */
  private readonly leaderListeners = new Set<() => void>();
  /** Attempts currently overdue: while any is, the leader is looked for every refresh. */
  private overdue = 0;
  private next = 0;
  private refreshing = false;
  private lastRefresh = -Infinity;

  constructor(private readonly opts: ConnectionOptions) {
    // Every call in flight listens on this signal; many concurrent calls are normal, not a leak.
    setMaxListeners(0, this.closing.signal);
    const addresses = [...new Set(opts.endpoints.map((e) => e.trim()).filter((e) => e !== ''))];
    if (addresses.length === 0)
      throw new TypeError('QuorumLockClient: endpoints must not be empty');
    if (opts.token !== undefined && !/^[\x21-\x7e]+$/.test(opts.token))
      throw new TypeError('QuorumLockClient: token must be printable ASCII without spaces');
    this.creds = credentials(opts.tls);
    this.endpoints = addresses.map((address) => ({
      address,
      client: new grpc.Client(address, this.creds, CHANNEL_OPTIONS),
      failedAt: -Infinity,
    }));
  }

  /**
   * Every call's metadata: the bearer token, when there is one. Added per call rather than as
   * call credentials, which grpc-js refuses on a plaintext channel (a token on loopback, in dev).
   */
  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.opts.token !== undefined) md.set('authorization', `Bearer ${this.opts.token}`);
    return md;
  }

  /** Aborted by close(): every call and stream of this connection listens to it. */
  get closedSignal(): AbortSignal {
    return this.closing.signal;
  }

  get addresses(): string[] {
    return this.endpoints.map((e) => e.address);
  }

  /** The leader when known and healthy, else the next endpoint that has not failed recently. */
  pick(avoid?: string): Endpoint {
    this.refreshLeader();
    const now = performance.now();
    const fresh = (e: Endpoint) => e.address !== avoid && now - e.failedAt > FAILED_RECENTLY_MS;
    if (this.leader && fresh(this.leader)) return this.leader;
    const n = this.endpoints.length;
    for (let i = 0; i < n; i++) {
      const e = this.endpoints[(this.next + i) % n]!; // the index is taken modulo the length
      if (fresh(e)) {
        this.next = (this.next + i + 1) % n;
        return e;
      }
    }
    // Everything failed lately: the one that failed longest ago, avoiding the last one tried.
    const others = this.endpoints.filter((e) => e.address !== avoid);
    return (others.length ? others : this.endpoints).reduce((a, b) =>
      a.failedAt <= b.failedAt ? a : b,
    );
  }

  markFailed(address: string): void {
    const e = this.endpoints.find((x) => x.address === address);
    if (!e) return;
    e.failedAt = performance.now();
    if (this.leader === e) this.leader = undefined;
    this.lastRefresh = -Infinity;
    this.refreshLeader();
  }

  /**
   * Asks every endpoint who leads, in the background: soon when no leader is known or an
   * attempt is overdue, rarely otherwise (a stale choice only costs a forwarding hop, since
   * followers forward). Each answer counts as it comes, so a node that does not answer (the
   * paused leader) delays nothing; the highest term wins, since a node cut off from the cluster
   * may still name an old leader.
   */
  private refreshLeader(): void {
    const now = performance.now();
    const every = this.leader && this.overdue === 0 ? RECHECK_LEADER_MS : REFRESH_EVERY_MS;
    if (this.refreshing || this.closing.signal.aborted || now - this.lastRefresh < every) return;
    this.refreshing = true;
    this.lastRefresh = now;
    const deadline = now + STATUS_TIMEOUT_MS;
    const learn = (s: Response<'ClusterService', 'Status'> | undefined) => {
      if (!s?.leader_client_address || s.term < this.leaderTerm) return;
      const found = this.endpoints.find((e) => e.address === s.leader_client_address);
      if (!found) return;
      this.leaderTerm = s.term;
      if (this.leader === found) return;
      this.leader = found;
      for (const listener of this.leaderListeners) listener();
    };
    void Promise.all(
      this.endpoints.map((e) =>
        ignoreRejection(
          this.once(e.client, 'ClusterService', 'Status', {}, deadline).then(learn),
          `endpoint ${e.address} did not answer who leads; the others may`,
        ),
      ),
    ).then(() => {
      this.refreshing = false;
    });
  }

  /**
   * Watches an attempt on `ep`: once it is overdue, looks for the leader until it ends, and
   * aborts `moved` when another endpoint turns out to lead. Returns the function that ends the
   * watch.
   */
  private watchLeader(ep: Endpoint, moved: AbortController): () => void {
    let timer: NodeJS.Timeout | undefined;
    let watching = false;
    const onLeader = () => {
      if (this.leader !== undefined && this.leader !== ep) moved.abort();
    };
    const poll = (interval: number) => {
      this.refreshLeader();
      timer = setTimeout(() => poll(Math.min(SUSPECT_POLL_MAX_MS, interval * 2)), interval);
    };
    timer = setTimeout(() => {
      watching = true;
      this.overdue++;
      this.leaderListeners.add(onLeader);
      poll(SUSPECT_AFTER_MS);
    }, SUSPECT_AFTER_MS);
    return () => {
      clearTimeout(timer);
      if (!watching) return;
      this.overdue--;
      this.leaderListeners.delete(onLeader);
    };
  }

  /** One attempt on one client, cancelled by signal; rejects with the raw grpc-js error. */
  once<S extends ServiceName, M extends MethodName<S>>(
    client: grpc.Client,
    service: S,
    method: M,
    req: Request<S, M>,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<Response<S, M>> {
    const def = API_DEFINITIONS[service][method];
    return new Promise((resolve, reject) => {
      const signals = [this.closing.signal, ...(signal ? [signal] : [])];
      const onAbort = () => call.cancel();
      const call = client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        req,
        this.metadata(),
        { deadline: wallDeadline(deadline) },
        (err, res) => {
          for (const s of signals) s.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(res as Response<S, M>);
        },
      );
      for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
      if (signals.some((s) => s.aborted)) call.cancel();
    });
  }

  /**
   * A unary call: the leader first, then other endpoints. UNAVAILABLE and an attempt that
   * outlives attemptTimeoutMs (a hung node) are retried with jittered exponential backoff,
   * within maxAttempts and the call's deadline. An attempt still unanswered after
   * SUSPECT_AFTER_MS moves at once to the leader when another endpoint turns out to lead (the
   * request is the same, so is its request_id: the server answers a repeat with the first
   * outcome). `req` is rebuilt per attempt when it is a function, so that a retried wait asks
   * only for the time left.
   */
  async unary<S extends ServiceName, M extends MethodName<S>>(
    service: S,
    method: M,
    req: Request<S, M> | (() => Request<S, M>),
    o: UnaryOptions,
  ): Promise<Response<S, M>> {
    const retry = this.opts.retry ?? {};
    const maxAttempts = Math.max(1, retry.maxAttempts ?? 8);
    const initial = retry.initialBackoffMs ?? 50;
    const maxBackoff = retry.maxBackoffMs ?? 1000;
    const abortedReason = (): unknown =>
      o.signal?.aborted ? o.signal.reason : this.closing.signal.reason;
    let last: string | undefined;
    for (let attempt = 1; ; attempt++) {
      if (o.signal?.aborted || this.closing.signal.aborted) throw abortedReason();
      const now = performance.now();
      if (now >= o.deadline)
        throw new DeadlineExceededError(`${service}.${method}: deadline exceeded`);
      const ep = this.pick(last);
      const attemptDeadline = Math.min(o.deadline, now + o.attemptTimeoutMs);
      const moved = new AbortController();
      const unwatch = this.watchLeader(ep, moved);
      try {
        const body = typeof req === 'function' ? req() : req;
        const signal = o.signal ? AbortSignal.any([o.signal, moved.signal]) : moved.signal;
        return await this.once(ep.client, service, method, body, attemptDeadline, signal);
      } catch (e) {
        if (o.signal?.aborted || this.closing.signal.aborted) throw abortedReason();
        // Another endpoint leads: go there now; not a failure of this one, nor one to wait out.
        if (moved.signal.aborted && attempt < maxAttempts) continue;
        const hung =
          isServiceError(e) &&
          e.code === grpc.status.DEADLINE_EXCEEDED &&
          attemptDeadline < o.deadline;
        const retryable = hung || (isServiceError(e) && e.code === grpc.status.UNAVAILABLE);
        if (!retryable || attempt >= maxAttempts) throw fromGrpcError(e);
        this.markFailed(ep.address);
        last = ep.address;
        const ceiling = Math.min(maxBackoff, initial * 2 ** (attempt - 1));
        // "Equal jitter": never hammer, never synchronise with other clients' retries.
        const delay = ceiling / 2 + Math.random() * (ceiling / 2);
        const left = o.deadline - performance.now();
        if (left <= delay) throw fromGrpcError(e);
        await sleep(delay, AbortSignal.any([this.closing.signal, ...(o.signal ? [o.signal] : [])]));
      } finally {
        unwatch();
      }
    }
  }

  /** A unary call to one address, once, without retries (Status of a particular node). */
  callAt<S extends ServiceName, M extends MethodName<S>>(
    address: string,
    service: S,
    method: M,
    req: Request<S, M>,
    o: { deadline: number; signal?: AbortSignal },
  ): Promise<Response<S, M>> {
    return this.once(this.clientAt(address), service, method, req, o.deadline, o.signal).catch(
      (e) => {
        throw fromGrpcError(e);
      },
    );
  }

  /** Opens a server stream on one address (the leader, for a snapshot). */
  serverStreamAt<S extends ServiceName, M extends MethodName<S>>(
    address: string,
    service: S,
    method: M,
    req: Request<S, M>,
  ): grpc.ClientReadableStream<Response<S, M>> {
    const def = API_DEFINITIONS[service][method];
    return this.clientAt(address).makeServerStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      req,
      this.metadata(),
      {},
    ) as grpc.ClientReadableStream<Response<S, M>>;
  }

  private clientAt(address: string): grpc.Client {
    let client = this.endpoints.find((e) => e.address === address)?.client;
    if (!client) {
      client = this.extra.get(address);
      if (!client) {
        client = new grpc.Client(address, this.creds, CHANNEL_OPTIONS);
        this.extra.set(address, client);
      }
    }
    return client;
  }

  /** Opens a server stream on an endpoint (the leader by preference). */
  serverStream<S extends ServiceName, M extends MethodName<S>>(
    service: S,
    method: M,
    req: Request<S, M>,
    avoid?: string,
  ): { call: grpc.ClientReadableStream<Response<S, M>>; address: string } {
    const ep = this.pick(avoid);
    return { call: this.serverStreamAt(ep.address, service, method, req), address: ep.address };
  }

  /** Opens a bidirectional stream on an endpoint (the leader by preference). */
  duplex<S extends ServiceName, M extends MethodName<S>>(
    service: S,
    method: M,
    avoid?: string,
  ): { call: grpc.ClientDuplexStream<Request<S, M>, Response<S, M>>; address: string } {
    const ep = this.pick(avoid);
    const def = API_DEFINITIONS[service][method];
    const call = ep.client.makeBidiStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      this.metadata(),
      {},
    ) as grpc.ClientDuplexStream<Request<S, M>, Response<S, M>>;
    return { call, address: ep.address };
  }

  close(): void {
    if (this.closing.signal.aborted) return;
    this.closing.abort(new QuorumLockError(grpc.status.CANCELLED, 'QuorumLockClient is closed'));
    for (const e of this.endpoints) e.client.close();
    for (const c of this.extra.values()) c.close();
  }
}
