// QuorumLockClient: locks, elections and cluster calls over the public gRPC API.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { status } from '@grpc/grpc-js';
import {
  InvalidArgumentError,
  LockLostError,
  LockNotAcquiredError,
  NotElectedError,
  fromGrpcError,
  NotFoundError,
  QuorumLockError,
  UnavailableError,
} from './errors.js';
import { type Grant, type HandleOps, Leadership, type LeaseHandle, Lock } from './handles.js';
import { KeepAliveManager, safetyMarginMs } from './keepalive.js';
import { subscribe } from './streams.js';
import type { AcquireResponse } from './gen/quorumlock/v1/lock.js';
import type { MethodName, Request, Response, ServiceName } from './proto.js';
import { type CallOptions, ClusterConnection, sleep, type UnaryOptions } from './connection.js';
import {
  type LeaderInfo,
  type LeaseOptions,
  type LockDescription,
  type LockEvent,
  type LockKindOptions,
  type ClusterMembers,
  type NewMember,
  type NodeStatus,
  type QuorumLockClientOptions,
  toLeaderInfo,
  toLockDescription,
  toLockEvent,
  toWireLockMode,
  toClusterMembers,
  toNodeStatus,
} from './types.js';
import { ignoreRejection } from '../../common/src/ignore.js';

export const DEFAULT_WAIT_MS = 30_000;
/** The server refuses longer waits. */
export const MAX_WAIT_MS = 600_000;

export interface AcquireOptions extends LeaseOptions, LockKindOptions, CallOptions {
  readonly owner?: string;
  /**
   * false: do not renew; the handle stops claiming the lock when the TTL may have run out, and
   * close() leaves the lease alone (renew/release it by lease id). Default true.
   */
  readonly autoRenew?: boolean;
}

export interface CampaignOptions extends LeaseOptions, CallOptions {
  readonly candidate?: string;
}

export interface StreamOptions {
  readonly signal?: AbortSignal;
}

export interface WatchOptions extends StreamOptions {
  /**
   * Re-subscribe on another node when the stream breaks (events in the gap are missed; the
   * callback is told). Default: end the iteration with UnavailableError instead.
   */
  readonly onGap?: (err: QuorumLockError) => void;
}

/** What Acquire and Campaign have in common: their requests' lease fields, their replies. */
interface GrantFields {
  ttl_ms: number;
  wait_ms: number;
  request_id: string;
}
type GrantReply = Pick<AcquireResponse, 'lease_id' | 'fencing_token' | 'ttl_ms'>;

/** The Acquire fields of a lock kind; the server checks the bounds, naming the field. */
function lockKind(o: LockKindOptions) {
  const mode = o.mode ?? 'exclusive';
  if (mode !== 'exclusive' && mode !== 'shared')
    throw new InvalidArgumentError(`mode: must be 'exclusive' or 'shared', got ${String(mode)}`);
  const count = (field: string, v: number | undefined) => {
    if (v === undefined) return 0;
    if (!Number.isSafeInteger(v) || v < 0)
      throw new InvalidArgumentError(`${field}: must be a non-negative integer, got ${v}`);
    return v;
  };
  return {
    mode: toWireLockMode(mode),
    limit: count('limit', o.limit),
    lock_delay_ms: count('lockDelayMs', o.lockDelayMs),
  };
}

export class QuorumLockClient {
  private readonly connection: ClusterConnection;
  private readonly keepAlive: KeepAliveManager;
  private readonly handles = new Set<LeaseHandle>();
  private readonly owner: string;
  private readonly callTimeoutMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly maxFailures: number;
  private readonly ops: HandleOps;

  constructor(options: QuorumLockClientOptions) {
    this.connection = new ClusterConnection(options);
    this.keepAlive = new KeepAliveManager(this.connection);
    this.owner = options.owner ?? `${hostname()}:${process.pid}`;
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 3_000;
    this.maxFailures = options.retry?.maxAttempts ?? 8;
    this.ops = {
      releaseLease: (leaseId) => this.release(leaseId, '', { timeoutMs: 3000 }),
      proclaim: async (election, leaseId, value) => {
        await this.call('ElectionService', 'Proclaim', { election, lease_id: leaseId, value });
      },
      resign: async (election, leaseId) =>
        (await this.call('ElectionService', 'Resign', { election, lease_id: leaseId })).resigned,
      forget: (h) => this.handles.delete(h),
    };
  }

  get endpoints(): string[] {
    return this.connection.addresses;
  }

  private call<S extends ServiceName, M extends MethodName<S>>(
    service: S,
    method: M,
    req: Request<S, M>,
    o: CallOptions = {},
  ): Promise<Response<S, M>> {
    return this.connection.unary(service, method, req, {
      deadline: performance.now() + (o.timeoutMs ?? this.callTimeoutMs),
      attemptTimeoutMs: this.attemptTimeoutMs,
      signal: o.signal,
    });
  }

  // ---- locks ---------------------------------------------------------------------------------

  /**
   * Waits up to waitMs (default 30 s) for the lock. Rejects with LockNotAcquiredError (naming
   * the holder) if it stays held. The lock is renewed in the background until release().
   */
  async acquire(name: string, opts: AcquireOptions = {}): Promise<Lock> {
    const lock = await this.lock(name, opts, opts.waitMs ?? DEFAULT_WAIT_MS);
    if (typeof lock === 'string') throw new LockNotAcquiredError(name, lock);
    return lock;
  }

  /** Tries once: the lock, or null if someone holds it. */
  async tryAcquire(name: string, opts: Omit<AcquireOptions, 'waitMs'> = {}): Promise<Lock | null> {
    const lock = await this.lock(name, opts, 0);
    return typeof lock === 'string' ? null : lock;
  }

  /**
   * Runs fn while holding the lock and releases it afterwards, also when fn throws. fn should
   * watch lock.signal: it aborts if the lock is lost. If it was lost, withLock rejects with the
   * LockLostError even when fn resolved, since fn's work may have overlapped another holder's.
   */
  async withLock<T>(
    name: string,
    fn: (lock: Lock) => Promise<T> | T,
    opts: AcquireOptions = {},
  ): Promise<T> {
    const lock = await this.acquire(name, { ...opts, autoRenew: true });
    let result: T;
    try {
      result = await fn(lock);
    } finally {
      const lost = lock.signal.reason instanceof LockLostError ? lock.signal.reason : undefined;
      await ignoreRejection(lock.release(), 'an unreleased lock expires with its lease');
      if (lost) throw lost; // replaces fn's own error too: the loss is the likelier cause
    }
    return result;
  }

  /** The lock, or the holder's name when it stayed held. */
  private async lock(name: string, o: AcquireOptions, waitMs: number): Promise<Lock | string> {
    const owner = o.owner ?? this.owner;
    const kind = lockKind(o);
    const outcome = await this.grant(o, waitMs, (fields, u) =>
      this.connection.unary(
        'LockService',
        'Acquire',
        () => ({ name, owner, ...kind, ...fields() }),
        u,
      ),
    );
    if (!outcome.res.acquired) return outcome.res.holder;
    const lock = new Lock(await this.confirm(name, owner, outcome), this.ops);
    this.track(lock, outcome.lastSend, o.autoRenew ?? true);
    if (lock.signal.aborted) throw lock.signal.reason;
    return lock;
  }

  /**
   * Acquire or Campaign with one request_id for every attempt, so a retry after a lost reply
   * returns the same grant; a retried wait asks only for the time left. `sentAt` is when the
   * first attempt left: the lease cannot have been created, so cannot expire, earlier.
   */
  private async grant<R extends GrantReply>(
    o: LeaseOptions & CallOptions,
    waitMs: number,
    send: (fields: () => GrantFields, u: UnaryOptions) => Promise<R>,
  ): Promise<{ res: R; sentAt: number; lastSend: number }> {
    const wait = Math.min(Math.max(0, Math.round(waitMs)), MAX_WAIT_MS);
    const requestId = o.requestId ?? randomUUID();
    const sentAt = performance.now();
    const res = await send(
      () => ({
        ttl_ms: Math.max(0, Math.round(o.ttlMs ?? 0)),
        wait_ms: wait && Math.max(0, Math.round(sentAt + wait - performance.now())),
        request_id: requestId,
      }),
      {
        deadline: sentAt + wait + (o.timeoutMs ?? this.callTimeoutMs),
        attemptTimeoutMs: wait + this.attemptTimeoutMs,
        signal: o.signal,
      },
    );
    return { res, sentAt, lastSend: sentAt };
  }

  /**
   * A grant's lease counts from no earlier than sentAt. After a queue wait the server keeps
   * only what remains of the lease's TTL, which the reply does not say: once the first renewal
   * is due, confirm with one before handing the lock out, and count from that renewal's send.
   */
  private async confirm(
    name: string,
    owner: string,
    g: { res: GrantReply; sentAt: number; lastSend: number },
  ): Promise<Grant> {
    const ttlMs = g.res.ttl_ms;
    const token = g.res.fencing_token;
    let validUntil = g.sentAt + ttlMs;
    if (performance.now() >= g.sentAt + ttlMs / 3) {
      const renewSent = performance.now();
      try {
        await this.renew(g.res.lease_id, { timeoutMs: Math.max(100, ttlMs / 2) });
      } catch (e) {
        await ignoreRejection(
          this.ops.releaseLease(g.res.lease_id),
          'the grant is reported lost; its lease expires anyway',
        );
        const code = e instanceof NotFoundError ? status.NOT_FOUND : status.DEADLINE_EXCEEDED;
        throw new LockLostError(
          name,
          token,
          g.res.lease_id,
          code,
          `granted ${name} but its lease could not be renewed: ${(e as Error).message}`,
          { cause: e },
        );
      }
      validUntil = renewSent + ttlMs;
      g.lastSend = renewSent;
    }
    return { name, leaseId: g.res.lease_id, fencingToken: token, ttlMs, owner, validUntil };
  }

  private track(h: LeaseHandle, lastSend: number, autoRenew: boolean): void {
    if (!autoRenew) {
      h.expireUnrenewed();
      return;
    }
    if (performance.now() >= h.validUntil - safetyMarginMs(h.ttlMs)) {
      h.lost(status.DEADLINE_EXCEEDED, `lease ${h.leaseId} may have expired before it was granted`);
      return;
    }
    this.handles.add(h);
    h.keepAlive(this.keepAlive.add(h, lastSend));
  }

  describe(name: string, o: CallOptions = {}): Promise<LockDescription> {
    return this.call('LockService', 'Describe', { name }, o).then((r) =>
      toLockDescription(name, r),
    );
  }

  /** Renews a lease once; rejects with NotFoundError if it expired or was released. */
  async renew(leaseId: string, o: CallOptions = {}): Promise<{ leaseId: string; ttlMs: number }> {
    const r = await this.call('LockService', 'Renew', { lease_id: leaseId }, o);
    return { leaseId: r.lease_id, ttlMs: r.ttl_ms };
  }

  /** Releases one lock held by a lease, or (no name) the lease and all it holds. */
  async release(leaseId: string, name = '', o: CallOptions = {}): Promise<boolean> {
    const r = await this.call('LockService', 'Release', { lease_id: leaseId, name }, o);
    return r.released;
  }

  /** Lock events for names starting with prefix, from now on. */
  watch(prefix: string, o: WatchOptions = {}): AsyncIterable<LockEvent> {
    return subscribe(this.connection, {
      service: 'LockService',
      method: 'Watch',
      request: { prefix },
      map: toLockEvent,
      resubscribe: (err) => (o.onGap ? (o.onGap(err), true) : false),
      maxFailures: this.maxFailures,
      signal: o.signal,
    });
  }

  // ---- elections -----------------------------------------------------------------------------

  /**
   * Stands for election, waiting up to waitMs (default 30 s) to be elected; rejects with
   * NotElectedError if another candidate leads throughout. Leadership is kept alive until
   * resign() or loss (the handle's signal and 'lost' event).
   */
  async campaign(election: string, value: string, o: CampaignOptions = {}): Promise<Leadership> {
    const candidate = o.candidate ?? this.owner;
    const outcome = await this.grant(o, o.waitMs ?? DEFAULT_WAIT_MS, (fields, u) =>
      this.connection.unary(
        'ElectionService',
        'Campaign',
        () => ({ election, candidate, value, ...fields() }),
        u,
      ),
    );
    if (!outcome.res.elected) throw new NotElectedError(election);
    const leadership = new Leadership(
      await this.confirm(election, candidate, outcome),
      this.ops,
      value,
    );
    this.track(leadership, outcome.lastSend, true);
    if (leadership.signal.aborted) throw leadership.signal.reason;
    return leadership;
  }

  async leader(election: string, o: CallOptions = {}): Promise<LeaderInfo> {
    const r = await this.call('ElectionService', 'Leader', { election }, o);
    return toLeaderInfo(election, r);
  }

  /**
   * The election's leader now, then every change, "no leader" (hasLeader: false) included.
   * Re-subscribes on another node when a stream breaks; consecutive repeats are dropped.
   */
  async *observe(election: string, o: StreamOptions = {}): AsyncGenerator<LeaderInfo> {
    let last: string | undefined;
    for await (const info of subscribe(this.connection, {
      service: 'ElectionService',
      method: 'Observe',
      request: { election },
      map: (w) => toLeaderInfo(election, w),
      resubscribe: () => true,
      maxFailures: this.maxFailures,
      signal: o.signal,
    })) {
      const key = `${info.hasLeader}/${info.fencingToken}/${info.candidate}/${info.value}`;
      if (key === last) continue;
      last = key;
      yield info;
    }
  }

  // ---- cluster -------------------------------------------------------------------------------

  /**
   * The members and their client addresses, read on the leader after a read barrier
   * (linearizable): the list to act on, unlike a node's own Status.
   */
  async members(o: CallOptions = {}): Promise<ClusterMembers> {
    return toClusterMembers(await this.call('ClusterService', 'ListMembers', {}, o));
  }

  /**
   * Adds a member; resolves with the new membership once the change is committed. A retry after
   * a lost reply may be refused with ALREADY_EXISTS: the first attempt took effect.
   */
  async addMember(m: NewMember, o: CallOptions = {}): Promise<ClusterMembers> {
    const req = {
      id: m.id,
      peer_address: m.peerAddress,
      client_address: m.clientAddress,
      learner: m.learner ?? false,
    };
    return toClusterMembers(await this.call('ClusterService', 'AddMember', req, o));
  }

  /** Makes a caught-up learner a voter; FAILED_PRECONDITION while it is behind. */
  async promoteMember(id: string, o: CallOptions = {}): Promise<ClusterMembers> {
    return toClusterMembers(await this.call('ClusterService', 'PromoteMember', { id }, o));
  }

  /** Removes a member (the leader too: it hands over once the change commits). */
  async removeMember(id: string, o: CallOptions = {}): Promise<ClusterMembers> {
    return toClusterMembers(await this.call('ClusterService', 'RemoveMember', { id }, o));
  }

  /** Status of the node that answers (the leader when known): that node's own view. */
  async status(o: CallOptions = {}): Promise<NodeStatus> {
    return toNodeStatus(await this.call('ClusterService', 'Status', {}, o));
  }

  /** Status of one particular node, without retries (it need not be in `endpoints`). */
  async statusOf(address: string, o: CallOptions = {}): Promise<NodeStatus> {
    const deadline = performance.now() + (o.timeoutMs ?? this.attemptTimeoutMs);
    const w = await this.connection.callAt(
      address,
      'ClusterService',
      'Status',
      {},
      {
        deadline,
        signal: o.signal,
      },
    );
    return toNodeStatus(w);
  }

  /**
   * A backup: the bytes of a snapshot file of the whole replicated state (a header naming the
   * cluster, index, term and counts; the state; a SHA-256 of both), taken on the leader after a
   * read barrier, so that it holds every write acknowledged before the call. The bytes come at
   * the pace they are read. Until the first bytes arrive, the call looks for the leader again
   * while the cluster has none or the snapshot was interrupted, within `timeoutMs`; after that,
   * a failure ends the iteration with the error (start again: a backup is all or nothing).
   * Needs `admin` on a cluster with --auth-config.
   */
  async *snapshot(o: CallOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    const deadline = performance.now() + (o.timeoutMs ?? this.callTimeoutMs);
    for (let attempt = 0; ; attempt++) {
      const left = () => Math.max(1, deadline - performance.now());
      const node = await this.status({ timeoutMs: left(), signal: o.signal });
      let started = false;
      try {
        if (node.leaderClientAddress === '') throw new UnavailableError('no leader is known');
        const call = this.connection.serverStreamAt(
          node.leaderClientAddress,
          'ClusterService',
          'Snapshot',
          {},
        );
        const cancel = () => call.cancel();
        o.signal?.addEventListener('abort', cancel, { once: true });
        try {
          for await (const chunk of call as AsyncIterable<{ data: Uint8Array }>) {
            started = true;
            yield chunk.data;
          }
          return;
        } catch (e) {
          throw fromGrpcError(e);
        } finally {
          o.signal?.removeEventListener('abort', cancel);
          call.cancel();
        }
      } catch (e) {
        const retry =
          !started &&
          !o.signal?.aborted &&
          performance.now() < deadline &&
          e instanceof QuorumLockError &&
          (e.code === status.UNAVAILABLE || e.code === status.FAILED_PRECONDITION);
        if (!retry) throw e;
        await sleep(Math.min(50 * 2 ** attempt, 1_000, left()), o.signal);
      }
    }
  }

  /** Moves Raft leadership to node id ('' = the most caught-up follower); the new leader's id. */
  async transferLeadership(id: string, o: CallOptions = {}): Promise<{ leaderId: string }> {
    const r = await this.call('ClusterService', 'TransferLeadership', { id }, o);
    return { leaderId: r.leader_id };
  }

  /**
   * Releases every auto-renewed lock and resigns every leadership this client holds (best
   * effort, bounded; release: false skips it and lets the leases expire), then closes channels.
   */
  async close(o: { release?: boolean } = {}): Promise<void> {
    await Promise.all([...this.handles].map((h) => h.relinquish(o.release ?? true)));
    this.keepAlive.stopAll();
    this.connection.close();
  }
}
