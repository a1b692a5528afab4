// etcd as a Node user meets it: Debian's etcd-server, 3 members on 127.0.0.1 with default
// settings, driven through the npm etcd3 client (lock(), lease(), keepAlive streams) and
// through etcd's own Lock service (v3lock), its fastest lock path.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Etcd3, type Lease } from 'etcd3';
import { rssBytes } from '../processes.js';
import { duplexRenewStream } from './quorumlock-grpc.js';
import {
  type BenchCluster,
  type DiskCounters,
  type HeldLock,
  type LeaseBackend,
  type LockClient,
  type NodeHealth,
  promValue,
  type RenewStream,
} from './types.js';
import { ignoreRejection } from '../../libs/common/src/ignore.js';
import { Child } from '../../libs/testing/src/processes.js';
import { waitFor } from '../../libs/testing/src/wait.js';
import { freePort } from '../../libs/testing/src/ports.js';

const LEASE_EXPIRES = 'a lease left over expires after its TTL';

const url = (address: string) => `http://${address}`;
const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * etcd's own lock service (v3lockpb, what `etcdctl lock` uses): it queues waiters in revision
 * order on the server, the FIFO wait the contended workload needs. etcd3's lock() only tries
 * once. The four messages are small enough to declare here instead of shipping etcd's .proto.
 */
const V3LOCK = protoLoader.fromJSON(
  {
    nested: {
      v3lockpb: {
        nested: {
          Lock: {
            methods: {
              Lock: { requestType: 'LockRequest', responseType: 'LockResponse' },
              Unlock: { requestType: 'UnlockRequest', responseType: 'UnlockResponse' },
            },
          },
          ResponseHeader: {
            fields: {
              cluster_id: { type: 'uint64', id: 1 },
              member_id: { type: 'uint64', id: 2 },
              revision: { type: 'int64', id: 3 },
              raft_term: { type: 'uint64', id: 4 },
            },
          },
          LockRequest: {
            fields: { name: { type: 'bytes', id: 1 }, lease: { type: 'int64', id: 2 } },
          },
          LockResponse: {
            fields: { header: { type: 'ResponseHeader', id: 1 }, key: { type: 'bytes', id: 2 } },
          },
          UnlockRequest: { fields: { key: { type: 'bytes', id: 1 } } },
          UnlockResponse: { fields: { header: { type: 'ResponseHeader', id: 1 } } },
        },
      },
    },
  } as Parameters<typeof protoLoader.fromJSON>[0],
  { keepCase: true, longs: String, defaults: true },
);
const V3LockClient = grpc.makeGenericClientConstructor(
  V3LOCK['v3lockpb.Lock'] as grpc.ServiceDefinition,
  'Lock',
);

type Unary = (
  req: object,
  md: grpc.Metadata,
  o: grpc.CallOptions,
  cb: (e: grpc.ServiceError | null, r: { key: Buffer }) => void,
) => void;

function v3call(c: grpc.Client, method: 'Lock' | 'Unlock', req: object, timeoutMs: number) {
  return new Promise<{ key: Buffer }>((ok, fail) =>
    (c as unknown as Record<typeof method, Unary>)[method].call(
      c,
      req,
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (e, r) => (e ? fail(e) : ok(r)),
    ),
  );
}

export class EtcdLockClient implements LockClient {
  private readonly client: Etcd3;
  private readonly v3lock: grpc.Client[];
  /**
   * Session leases for queued locks, reused like Go's concurrency.Session: a waiter's key lives
   * on its session's lease, so one lease per concurrent waiter, not per acquire.
   */
  private readonly sessions: Lease[] = [];
  private readonly allSessions = new Set<Lease>();

  constructor(
    endpoints: string[],
    callDeadlineMs?: number,
    private readonly flavor?: 'client' | 'v3lock',
  ) {
    this.client = new Etcd3({
      hosts: endpoints.map(url),
      // Unary calls only: a deadline would end the keep-alive streams of the locks' leases.
      defaultCallOptions: callDeadlineMs
        ? (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callDeadlineMs })
        : undefined,
    });
    this.v3lock = endpoints.map((e) => new V3LockClient(e, grpc.credentials.createInsecure()));
  }

  async acquire(name: string, ttlMs: number, waitMs: number): Promise<HeldLock> {
    if (this.flavor === 'client' || (this.flavor === undefined && waitMs === 0)) {
      if (waitMs > 0) throw new Error("etcd3's lock() tries once: it cannot wait in a queue");
      return this.client.lock(name).ttl(seconds(ttlMs)).acquire();
    }
    let session = this.sessions.pop();
    if (!session) {
      session = this.client.lease(seconds(ttlMs));
      this.allSessions.add(session);
    }
    const lease = await session.grant();
    // Like etcd3's own pool: a random member, the next one if it is unreachable.
    const start = Math.floor(Math.random() * this.v3lock.length);
    let lastErr: unknown;
    for (let i = 0; i < this.v3lock.length; i++) {
      const c = this.v3lock[(start + i) % this.v3lock.length]!; // modulo the length
      try {
        // Lock waits in etcd's queue for as long as the call lasts: an uncontended row (waitMs 0)
        // gets an ordinary call deadline, since a free name is granted at once.
        const deadline = waitMs > 0 ? waitMs : 10_000;
        const { key } = await v3call(c, 'Lock', { name: Buffer.from(name), lease }, deadline);
        const s = session;
        return {
          release: async () => {
            await v3call(c, 'Unlock', { key }, 5000);
            this.sessions.push(s);
          },
        };
      } catch (e) {
        lastErr = e;
        if ((e as grpc.ServiceError).code !== grpc.status.UNAVAILABLE) break;
      }
    }
    // The session's key may still be queued: revoking its lease removes it.
    this.allSessions.delete(session);
    await ignoreRejection(session.revoke(), LEASE_EXPIRES);
    throw lastErr;
  }

  async close(): Promise<void> {
    await Promise.all([...this.allSessions].map((s) => ignoreRejection(s.revoke(), LEASE_EXPIRES)));
    for (const c of this.v3lock) c.close();
    this.client.close();
  }
}

export class EtcdLeases implements LeaseBackend {
  private readonly client: Etcd3;

  constructor(address: string) {
    this.client = new Etcd3({ hosts: url(address) });
  }

  grant(ttlMs: number): Promise<string> {
    // No keep-alive: the workload renews (or holds) leases itself.
    return this.client.lease(seconds(ttlMs), { autoKeepAlive: false }).grant();
  }

  async revoke(leaseId: string): Promise<void> {
    await this.client.leaseClient.leaseRevoke({ ID: leaseId });
  }

  async openRenewStream(): Promise<RenewStream> {
    const call = await this.client.leaseClient.leaseKeepAlive();
    return duplexRenewStream(
      call,
      (id) => ({ ID: id }),
      (r) => Number((r as { TTL?: string }).TTL) > 0,
    );
  }

  close(): void {
    this.client.close();
  }
}

interface Member {
  id: string;
  client: string;
  peer: string;
  dataDir: string;
  log: string;
  proc?: Child;
}

/**
 * A short-lived client on one member for probes: a long-lived one would trip etcd3's circuit
 * breaker while the member is down and then refuse to try it for 5 s.
 */
async function onMember<T>(address: string, fn: (c: Etcd3) => Promise<T>): Promise<T> {
  const c = new Etcd3({ hosts: url(address), dialTimeout: 1000 });
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

export class EtcdCluster implements BenchCluster {
  readonly system = 'etcd' as const;
  readonly ids = ['e1', 'e2', 'e3'];
  private readonly members = new Map<string, Member>();
  private initialCluster = '';

  /** Data and logs (<id>.log) go to dir. */
  constructor(private readonly dir: string) {}

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    for (const id of this.ids) {
      const [c, p] = [await freePort(), await freePort()];
      const m = { id, client: `127.0.0.1:${c}`, peer: `127.0.0.1:${p}` };
      this.members.set(id, { ...m, dataDir: join(this.dir, id), log: join(this.dir, `${id}.log`) });
    }
    this.initialCluster = [...this.members.values()].map((m) => `${m.id}=${url(m.peer)}`).join();
    for (const id of this.ids) this.startNode(id);
    await this.leader(30_000);
  }

  startNode(id: string): void {
    const m = this.members.get(id)!;
    // Addresses only: every other setting is etcd's default (election timeout 1000 ms).
    m.proc = new Child(
      id,
      'etcd',
      [
        ...['--name', id, '--data-dir', m.dataDir],
        ...['--listen-client-urls', url(m.client), '--advertise-client-urls', url(m.client)],
        ...['--listen-peer-urls', url(m.peer), '--initial-advertise-peer-urls', url(m.peer)],
        ...['--initial-cluster', this.initialCluster, '--initial-cluster-state', 'new'],
        ...['--initial-cluster-token', `bench-${process.pid}`],
      ],
      { logFile: m.log, ownGroup: true },
    );
  }

  endpoints(): string[] {
    return this.ids.map((id) => this.endpoint(id));
  }

  endpoint(id: string): string {
    return this.members.get(id)!.client;
  }

  isUp(id: string): boolean {
    return this.members.get(id)?.proc?.isUp() ?? false;
  }

  async leader(timeoutMs = 15_000): Promise<string> {
    return waitFor('an etcd leader every running member agrees on', () => this.agree(), timeoutMs);
  }

  private async agree(): Promise<string | undefined> {
    const up = this.ids.filter((id) => this.isUp(id));
    const all = await Promise.all(
      up.map((id) => onMember(this.endpoint(id), (c) => c.maintenance.status())),
    );
    const leader = all[0]?.leader;
    if (!leader || leader === '0' || !all.every((s) => s.leader === leader)) return undefined;
    const i = all.findIndex((s) => s.header.member_id === leader);
    return i < 0 ? undefined : up[i];
  }

  async serving(id: string): Promise<boolean> {
    // A linearizable read through this member: it has a leader and has caught up to it.
    await onMember(this.endpoint(id), (c) =>
      c
        .get('bench/probe')
        .options({ deadline: Date.now() + 1000 })
        .string(),
    );
    return true;
  }

  async kill(id: string): Promise<void> {
    await this.members.get(id)?.proc?.stop('SIGKILL');
  }

  rssBytes(id: string): number {
    return rssBytes(this.pid(id));
  }

  private async metricsText(id: string): Promise<string> {
    const res = await fetch(`${url(this.endpoint(id))}/metrics`, {
      signal: AbortSignal.timeout(2000),
    });
    return res.text();
  }

  async health(id: string): Promise<NodeHealth> {
    const text = await this.metricsText(id);
    return {
      leaderChanges: promValue(text, 'etcd_server_leader_changes_seen_total'),
      hasLeader: promValue(text, 'etcd_server_has_leader') === 1,
      // Go has no event loop to stall; its pauses show as latency, not here.
      lagMaxMs: NaN,
    };
  }

  async diskCounters(id: string): Promise<DiskCounters> {
    const text = await this.metricsText(id);
    return {
      fsyncs: promValue(text, 'etcd_disk_wal_fsync_duration_seconds_count'),
      proposals: promValue(text, 'etcd_server_proposals_committed_total'),
      snapshots: promValue(text, 'etcd_debugging_snap_save_total_duration_seconds_count'),
    };
  }

  pid(id: string): number | undefined {
    return this.members.get(id)?.proc?.pid;
  }

  lockClient(o: { callDeadlineMs?: number; flavor?: 'client' | 'v3lock' } = {}): LockClient {
    return new EtcdLockClient(this.endpoints(), o.callDeadlineMs, o.flavor);
  }

  leaseBackend(address: string): LeaseBackend {
    return new EtcdLeases(address);
  }

  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const procs = [...this.members.values()].flatMap((m) => (m.proc ? [m.proc] : []));
    await Promise.all(procs.map((p) => p.stop(signal)));
  }
}
