// The workloads' clients: the SDK (libs/client) with every call recorded as an op, plus a few raw
// gRPC calls for what the SDK deliberately does not do (abandon a lease like a crashed client).
import { status } from '@grpc/grpc-js';
import {
  Leadership,
  type LeaseHandle,
  type Lock,
  LockLostError,
  LockNotAcquiredError,
  QuorumLockClient,
  QuorumLockError,
} from '@quorumlock/client';
import { type AcquireResponse, LockMode } from '../../apps/lock-service/src/domain/api.js';
import { ApiClient } from '../support/grpc-clients.js';
import type { Op, Recorder } from './history.js';
import { ignoreRejection } from '../../libs/common/src/ignore.js';
import { sleep } from '../../libs/testing/src/wait.js';

/**
 * Errors after which an Acquire/Campaign certainly had no effect: only a refused request.
 * NOT_FOUND is not one: a retry answered from the retry table after the granted lease expired
 * says "lease expired or released", and RESOURCE_EXHAUSTED for too many waiting calls comes
 * after the wait was queued.
 */
const DEFINITE = new Set<number>([status.INVALID_ARGUMENT]);

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
const outcomeOf = (e: unknown) =>
  e instanceof QuorumLockError && DEFINITE.has(e.code) ? 'fail' : 'unknown';

/**
 * When an SDK client first called Release for each lease. The SDK releases on its own when it
 * gives up a lease: a grant that came too late to act on, a confirming renewal that failed, a
 * lease whose renewals went unanswered. The checker needs those releases dated at their send:
 * an earlier date (the acquire's start, say) excuses any early expiry or re-grant of the lease,
 * a later one would blame the server for honouring the release.
 */
const releaseSends = new WeakMap<QuorumLockClient, Map<string, number>>();

export function trackReleases(sdk: QuorumLockClient): Map<string, number> {
  const known = releaseSends.get(sdk);
  if (known) return known;
  const sends = new Map<string, number>();
  const release = sdk.release.bind(sdk);
  // Every release the SDK sends, its own included, goes through this method.
  sdk.release = (leaseId, name, o) => {
    if (!sends.has(leaseId)) sends.set(leaseId, performance.now());
    return release(leaseId, name, o);
  };
  releaseSends.set(sdk, sends);
  return sends;
}

/** The kind of hold an acquire asks for; absent fields: an EXCLUSIVE mutex, no lock-delay. */
export type HoldKind = Pick<Op, 'shared' | 'limit' | 'lockDelayMs'>;

export const lockKey = (name: string) => `lock:${name}`;
export const electionKey = (name: string) => `election:${name}`;

/** A granted lock or leadership, with its renewals and losses recorded as they happen. */
export class Held {
  readonly token: number;
  readonly lease: string;
  readonly ttlMs: number;

  constructor(
    private readonly rec: Recorder,
    readonly client: string,
    readonly key: string,
    readonly handle: LeaseHandle,
    acquire: Op,
    releases: Map<string, number>,
  ) {
    this.token = Number(handle.fencingToken);
    this.lease = handle.leaseId;
    this.ttlMs = handle.ttlMs;
    const base = { client, key, lease: this.lease };
    // After a long wait the SDK confirms the grant with a renewal before handing it out, and
    // counts from that renewal's send time (validUntil - TTL): record it like any renewal.
    const confirmedFrom = handle.validUntil - handle.ttlMs;
    if (confirmedFrom > acquire.invoke + handle.ttlMs / 6)
      rec.instant(
        { ...base, kind: 'renew', ttlMs: this.ttlMs, note: 'sdk confirm' },
        confirmedFrom,
      );
    handle.on('renewed', (e) => rec.instant({ ...base, kind: 'renew', ttlMs: e.ttlMs }, e.sentAt));
    // The SDK sends a release (unless the server said NOT_FOUND) just before it emits 'lost'.
    handle.on('lost', (_token, err) => {
      const sent = releases.get(this.lease);
      if (sent !== undefined) {
        const op = rec.begin({ ...base, kind: 'release', note: 'sdk on loss' }, sent);
        rec.end(op, 'unknown');
      }
      rec.instant(
        { ...base, kind: 'lost', definite: err.code === status.NOT_FOUND, error: err.message },
        rec.now(),
      );
    });
  }

  /** The client may act on the lock now (the SDK's own, conservative, view). */
  get valid(): boolean {
    return this.handle.held;
  }

  /** Releases the lock, or resigns the leadership; nothing is sent if the handle was lost. */
  async release(): Promise<void> {
    if (this.handle.signal.aborted) return;
    const op = this.rec.begin({
      client: this.client,
      kind: 'release',
      key: this.key,
      lease: this.lease,
    });
    try {
      const r =
        this.handle instanceof Leadership
          ? await this.handle.resign()
          : await (this.handle as Lock).release();
      // false is ambiguous: the SDK retries, and a retry after a lost reply finds nothing.
      this.rec.end(op, r ? 'ok' : 'unknown', { released: r });
    } catch (e) {
      this.rec.end(op, 'unknown', { error: message(e) });
    }
  }

  async proclaim(value: string): Promise<void> {
    if (!(this.handle instanceof Leadership)) return;
    await ignoreRejection(this.handle.proclaim(value), 'values are not in the checked history');
  }
}

export class RecordedClient {
  private seq = 0;
  private readonly releases: Map<string, number>;

  constructor(
    private readonly rec: Recorder,
    private readonly sdk: QuorumLockClient,
    readonly name: string,
  ) {
    this.releases = trackReleases(sdk);
  }

  /** A fresh owner/candidate name per acquire, so that any report of a holder names its grant. */
  private owner(): string {
    return `${this.name}.${++this.seq}`;
  }

  async acquire(
    name: string,
    o: { ttlMs: number; waitMs: number } & HoldKind,
  ): Promise<Held | null> {
    const key = lockKey(name);
    const owner = this.owner();
    const op = this.rec.begin({ client: this.name, kind: 'acquire', key, owner, ...o });
    try {
      const lock = await this.sdk.acquire(name, {
        owner,
        ttlMs: o.ttlMs,
        waitMs: o.waitMs,
        mode: o.shared ? 'shared' : 'exclusive',
        limit: o.limit,
        lockDelayMs: o.lockDelayMs,
      });
      return this.granted(op, key, lock);
    } catch (e) {
      return this.notGranted(op, key, e);
    }
  }

  async campaign(election: string, o: { ttlMs: number; waitMs: number }): Promise<Held | null> {
    const key = electionKey(election);
    const owner = this.owner();
    const op = this.rec.begin({ client: this.name, kind: 'acquire', key, owner, ...o });
    try {
      const l = await this.sdk.campaign(election, owner, { candidate: owner, ...o });
      return this.granted(op, key, l);
    } catch (e) {
      return this.notGranted(op, key, e);
    }
  }

  private granted(op: Op, key: string, h: LeaseHandle): Held | null {
    const token = Number(h.fencingToken);
    this.rec.end(op, 'ok', { granted: true, token, lease: h.leaseId, ttlMs: h.ttlMs });
    if (h.signal.aborted) {
      // The SDK judged the lease possibly expired already and released it before returning.
      this.sdkRelease(op, key, h.leaseId, 'sdk lost at grant');
      return null;
    }
    return new Held(this.rec, this.name, key, h, op, this.releases);
  }

  private notGranted(op: Op, key: string, e: unknown): null {
    if (e instanceof LockNotAcquiredError) {
      this.rec.end(op, 'ok', { granted: false, holder: e.holder });
    } else if (e instanceof LockLostError) {
      // Granted, but the confirming renewal failed and the SDK released the lease.
      this.rec.end(op, 'ok', { granted: true, token: Number(e.fencingToken), lease: e.leaseId });
      this.sdkRelease(op, key, e.leaseId, 'sdk confirm failed');
      const lost = { client: this.name, kind: 'lost' as const, key, lease: e.leaseId };
      this.rec.instant(
        { ...lost, definite: e.code === status.NOT_FOUND, error: e.message },
        op.complete!,
      );
    } else {
      this.rec.end(op, outcomeOf(e), { error: message(e) });
    }
    return null;
  }

  /**
   * A release the SDK sent on its own before the acquire returned, dated at its send: after
   * the grant's reply arrived, which may be long after the acquire began.
   */
  private sdkRelease(acquire: Op, key: string, lease: string, note: string): void {
    const sent = this.releases.get(lease);
    if (sent === undefined) return; // none was sent
    const op = this.rec.begin({ client: this.name, kind: 'release', key, lease, note }, sent);
    this.rec.end(op, 'unknown', {}, Math.max(sent, acquire.complete!));
  }

  async describe(name: string): Promise<Op> {
    const op = this.rec.begin({ client: this.name, kind: 'describe', key: lockKey(name) });
    try {
      const d = await this.sdk.describe(name, { timeoutMs: 3000 });
      const holders = d.holders.map((x) => ({
        owner: x.owner,
        token: Number(x.fencingToken),
        shared: x.mode === 'shared',
      }));
      this.rec.end(op, 'ok', {
        held: d.held,
        holder: d.owner,
        token: Number(d.fencingToken),
        holders,
      });
    } catch (e) {
      this.rec.end(op, 'unknown', { error: message(e) });
    }
    return op;
  }

  async leader(election: string): Promise<void> {
    const op = this.rec.begin({ client: this.name, kind: 'describe', key: electionKey(election) });
    try {
      const l = await this.sdk.leader(election, { timeoutMs: 3000 });
      const fields = { held: l.hasLeader, holder: l.candidate, token: Number(l.fencingToken) };
      this.rec.end(op, 'ok', fields);
    } catch (e) {
      this.rec.end(op, 'unknown', { error: message(e) });
    }
  }
}

/**
 * Raw gRPC Acquire/Renew, for leases that nobody releases: the SDK releases a lease when it
 * stops renewing it, which is right for applications but not for a client that crashed.
 */
export class RawClient {
  private readonly apis: ApiClient[];
  private seq = 0;

  constructor(
    private readonly rec: Recorder,
    endpoints: readonly string[],
    readonly name: string,
  ) {
    this.apis = endpoints.map((a) => new ApiClient(a));
  }

  /** Retries UNAVAILABLE and hung attempts on the next node, with the same request. */
  private async call<T>(
    method: string,
    req: object,
    totalMs: number,
  ): Promise<{ ok: true; value: T } | { ok: false; code: status; error: string }> {
    const deadline = performance.now() + totalMs;
    let last = { code: status.DEADLINE_EXCEEDED, error: 'no attempt' };
    for (let i = Math.floor(Math.random() * this.apis.length); ; i++) {
      const left = deadline - performance.now();
      if (left <= 0) return { ok: false, ...last };
      const api = this.apis[i % this.apis.length]!; // modulo the length
      try {
        return { ok: true, value: await api.call<T>(api.lock, method, req, Math.min(left, 1500)) };
      } catch (e) {
        const code = (e as { code?: status }).code ?? status.UNKNOWN;
        last = { code, error: message(e) };
        if (code !== status.UNAVAILABLE && code !== status.DEADLINE_EXCEEDED)
          return { ok: false, ...last };
        await sleep(20 + Math.random() * 60); // a client's backoff between attempts
      }
    }
  }

  async acquire(
    name: string,
    ttlMs: number,
    kind: HoldKind = {},
  ): Promise<{ lease: string; token: number; ttlMs: number } | null> {
    const key = lockKey(name);
    const owner = `${this.name}.${++this.seq}`;
    const fields = { client: this.name, kind: 'acquire' as const, key, owner, ttlMs, waitMs: 0 };
    const op = this.rec.begin({ ...fields, ...kind });
    const req = {
      name,
      owner,
      ttl_ms: ttlMs,
      wait_ms: 0,
      request_id: `${owner}-${process.pid}`,
      mode: kind.shared ? LockMode.LOCK_MODE_SHARED : LockMode.LOCK_MODE_EXCLUSIVE,
      limit: kind.limit ?? 0,
      lock_delay_ms: kind.lockDelayMs ?? 0,
    };
    const r = await this.call<AcquireResponse>('Acquire', req, 5000);
    if (!r.ok) {
      this.rec.end(op, r.code === status.INVALID_ARGUMENT ? 'fail' : 'unknown', { error: r.error });
      return null;
    }
    const v = r.value;
    if (!v.acquired) {
      this.rec.end(op, 'ok', { granted: false, holder: v.holder });
      return null;
    }
    const grant = { lease: v.lease_id, token: v.fencing_token, ttlMs: v.ttl_ms };
    this.rec.end(op, 'ok', { granted: true, ...grant });
    return grant;
  }

  async renew(name: string, lease: string, ttlMs: number): Promise<boolean> {
    const key = lockKey(name);
    const op = this.rec.begin({ client: this.name, kind: 'renew', key, lease, ttlMs });
    const r = await this.call('Renew', { lease_id: lease }, ttlMs / 2);
    if (r.ok) this.rec.end(op, 'ok');
    else this.rec.end(op, r.code === status.NOT_FOUND ? 'fail' : 'unknown', { error: r.error });
    return r.ok;
  }

  close(): void {
    for (const a of this.apis) a.close();
  }
}
