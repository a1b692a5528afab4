// What the load generator needs from each system: the same few operations, so that one driver
// runs every workload against both and only these adapters differ.

export type SystemName = 'quorumlock' | 'etcd';

export interface HeldLock {
  release(): Promise<unknown>;
}

/** A client on every member of a cluster, the way an application would create it. */
export interface LockClient {
  /**
   * waitMs 0: try once; otherwise queue (FIFO) for up to waitMs. Rejects when the lock was not
   * acquired, whatever the reason: the driver counts it as an error.
   */
  acquire(name: string, ttlMs: number, waitMs: number): Promise<HeldLock>;
  close(): Promise<void>;
}

/** One pipelined renewal stream: every send gets exactly one reply, in order. */
export interface RenewStream {
  send(leaseId: string): void;
  /** ok: the lease was renewed (etcd answers an unknown lease with TTL 0, not an error). */
  onReply(cb: (ok: boolean) => void): void;
  onError(cb: (e: Error) => void): void;
  close(): void;
}

/** Leases in bulk, on one member (the leader): the lease, recovery and memory workloads. */
export interface LeaseBackend {
  /** A new lease of ttlMs; `name` is the lock it holds where a lease needs one (ours). */
  grant(ttlMs: number, name: string): Promise<string>;
  revoke(leaseId: string): Promise<void>;
  openRenewStream(): Promise<RenewStream>;
  close(): void;
}

/** Cumulative counters a member exports (NaN where it does not): the cost of each op. */
export interface DiskCounters {
  fsyncs: number;
  /** Raft proposals committed (entries written by clients' requests, roughly). */
  proposals: number;
  snapshots: number;
}

/** How a member has fared, from its /metrics (NaN where it does not say). */
export interface NodeHealth {
  /** Leader changes this member has seen since it started (its first leader included). */
  leaderChanges: number;
  /** Whether it knows a leader now. */
  hasLeader: boolean;
  /** The longest event-loop stall since the previous read, ms (a Node process's only). */
  lagMaxMs: number;
}

/** Reads the counters out of a Prometheus text exposition; a missing series is NaN. */
export function promValue(text: string, series: string): number {
  const esc = series.replace(/[{}"=]/g, (c) => `\\${c}`);
  const m = new RegExp(`^${esc} ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** A running 3-member cluster the benchmark controls. */
export interface BenchCluster {
  readonly system: SystemName;
  readonly ids: readonly string[];
  /** Client addresses (host:port) of every member. */
  endpoints(): string[];
  endpoint(id: string): string;
  /** The leader every running member agrees on; waits up to timeoutMs for one. */
  leader(timeoutMs?: number): Promise<string>;
  /** kill -9. */
  kill(id: string): Promise<void>;
  /** Starts a stopped member again on its data directory. */
  startNode(id: string): void;
  isUp(id: string): boolean;
  /** The member itself answers as ready: it has a leader and has caught up. */
  serving(id: string): Promise<boolean>;
  rssBytes(id: string): number;
  /** Where a restart's time went, from the member's log (ms after sinceWallMs), if it says. */
  startupSteps?(id: string, sinceWallMs: number): string;
  /** The member's fsync, proposal and snapshot counters, from its /metrics. */
  diskCounters(id: string): Promise<DiskCounters>;
  health(id: string): Promise<NodeHealth>;
  pid(id: string): number | undefined;
  /** callDeadlineMs: a deadline on every unary call (etcd3 sets none by default). */
  /**
   * flavor picks etcd's path (ignored by quorumlock): 'client' is the etcd3 npm client's lock()
   * (one try, no queue: uncontended only), 'v3lock' etcd's own Lock service (what `etcdctl lock`
   * uses; it queues). Default: v3lock for a wait, the client otherwise.
   */
  lockClient(o?: { callDeadlineMs?: number; flavor?: 'client' | 'v3lock' }): LockClient;
  leaseBackend(address: string): LeaseBackend;
  /** Stops every member; SIGTERM lets Node write --cpu-prof profiles. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}
