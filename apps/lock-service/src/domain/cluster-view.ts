// What the live view (GET /) shows of the cluster, as one node sees it: every member's Raft
// status (asked of each member on the peer plane, as a forwarded Status call), the tail of this
// node's log, and a bounded listing of the locks, elections and leases in its applied state.
// Read-only, and bounded in size whatever the state holds.
import { EntryType, type RaftNodeStatus } from '../../../../libs/raft/src/index.js';
import type * as api from './api.js';
import { decodeCommand } from './command-codec.js';
import type { Lease, Mutex } from './model.js';

/** Entries of the log tail, and rows of each listing, at most. */
export const VIEW_LIMITS = { log: 20, locks: 50, elections: 50, leases: 50 } as const;
/** Records looked at for one listing: a view of a huge state costs no more than this. */
const SCAN_MAX = 5_000;
/** How long a member has to answer its status before the view calls it unhealthy. */
const STATUS_TIMEOUT_MS = 400;

export interface ViewNode {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leaderId: string;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly learner: boolean;
  /** Answered its status, knows a leader and has applied what it committed. */
  readonly healthy: boolean;
  /** Why the member is not healthy, when it did not answer. */
  readonly error?: string;
}

export interface ViewLock {
  readonly name: string;
  readonly holder: string;
  readonly leaseId: string;
  readonly fencingToken: number;
  /** Of the holder's lease, by this node's reading of the lease clock. */
  readonly remainingMs: number;
  readonly waiters: readonly string[];
}

export interface ViewElection {
  readonly name: string;
  readonly leader: string;
  readonly value: string;
  readonly fencingToken: number;
  readonly candidates: readonly string[];
}

export interface ViewLease {
  readonly id: string;
  readonly ttlMs: number;
  readonly remainingMs: number;
  readonly holds: number;
  readonly waits: number;
}

export interface ClusterSnapshot {
  /** The node that answered. */
  readonly node: string;
  readonly leader: string;
  readonly term: number;
  readonly nodes: readonly ViewNode[];
  readonly log: readonly { index: number; term: number; kind: string; committed: boolean }[];
  readonly locks: readonly ViewLock[];
  readonly elections: readonly ViewElection[];
  readonly leases: readonly ViewLease[];
  /** Listings cut at their limit: the state holds more rows than shown. */
  readonly truncated: {
    readonly locks: boolean;
    readonly elections: boolean;
    readonly leases: boolean;
  };
}

/** What the view reads: the local Raft node, the applied state, and a way to ask a peer. */
export interface ViewSources {
  readonly id: string;
  status(): RaftNodeStatus;
  logTail(max: number): {
    entries: readonly { index: number; term: number; type: EntryType; data: Uint8Array }[];
    commit: number;
  };
  mutexes(): Iterable<Mutex>;
  leases(): Iterable<Lease>;
  remainingMs(leaseId: string): number;
  /** The address this node reaches a member's peer plane at. */
  peerAddress(id: string): string | undefined;
  /** Status of another member, asked on the peer plane. */
  peerStatus(address: string, ctx: api.CallContext): Promise<api.StatusResponse>;
}

const keysOf = (k: Lease['holds']): readonly string[] =>
  k === null ? [] : typeof k === 'string' ? [k] : k;

function entryKind(type: EntryType, data: Uint8Array): string {
  if (type === EntryType.Noop) return 'noop';
  if (type === EntryType.Config) return 'config';
  try {
    return decodeCommand(data).op;
  } catch {
    return 'command';
  }
}

export class ClusterView {
  constructor(private readonly s: ViewSources) {}

  /**
   * The view now. `readable` says which lock and election names the caller may see: the others,
   * and leases holding any of them, are left out.
   */
  async snapshot(readable: (name: string) => boolean): Promise<ClusterSnapshot> {
    const local = this.s.status();
    const nodes = await Promise.all(
      local.membership.members.map((m) =>
        m.id === local.id ? Promise.resolve(this.localNode(local)) : this.remoteNode(m.id, local),
      ),
    );
    const tail = this.s.logTail(VIEW_LIMITS.log);
    const [locks, elections, cut] = this.mutexes(readable);
    const [leases, leasesCut] = this.leases(readable);
    return {
      node: local.id,
      leader: local.leader,
      term: local.term,
      nodes,
      log: tail.entries.map((e) => ({
        index: e.index,
        term: e.term,
        kind: entryKind(e.type, e.data),
        committed: e.index <= tail.commit,
      })),
      locks,
      elections,
      leases,
      truncated: { ...cut, leases: leasesCut },
    };
  }

  private localNode(s: RaftNodeStatus): ViewNode {
    return {
      id: s.id,
      role: s.role,
      term: s.term,
      leaderId: s.leader,
      commitIndex: s.commit,
      appliedIndex: s.applied,
      learner: s.learners.includes(s.id),
      healthy: s.leader !== '' && s.applied >= s.commit,
    };
  }

  private async remoteNode(id: string, local: RaftNodeStatus): Promise<ViewNode> {
    const learner = local.learners.includes(id);
    const down = (error: string): ViewNode => ({
      id,
      role: 'unknown',
      term: 0,
      leaderId: '',
      commitIndex: 0,
      appliedIndex: 0,
      learner,
      healthy: false,
      error,
    });
    const address = this.s.peerAddress(id);
    if (address === undefined) return down('no known peer address');
    const signal = AbortSignal.timeout(STATUS_TIMEOUT_MS);
    try {
      const r = await this.s.peerStatus(address, {
        deadline: performance.now() + STATUS_TIMEOUT_MS,
        signal,
      });
      return {
        id,
        role: r.role,
        term: r.term,
        leaderId: r.leader_id,
        commitIndex: r.commit_index,
        appliedIndex: r.applied_index,
        learner,
        healthy: r.leader_id !== '' && r.applied_index >= r.commit_index,
      };
    } catch (e) {
      return down((e as Error).message);
    }
  }

  private mutexes(
    readable: (name: string) => boolean,
  ): [ViewLock[], ViewElection[], { locks: boolean; elections: boolean }] {
    const locks: ViewLock[] = [];
    const elections: ViewElection[] = [];
    const cut = { locks: false, elections: false };
    let scanned = 0;
    for (const m of this.s.mutexes()) {
      if (++scanned > SCAN_MAX || (cut.locks && cut.elections)) {
        cut.locks = cut.elections = true;
        break;
      }
      const key = m.kind === 'lock' ? 'locks' : 'elections';
      if (!readable(m.name)) continue;
      if ((m.kind === 'lock' ? locks : elections).length >= VIEW_LIMITS[key]) {
        cut[key] = true;
        continue;
      }
      if (m.kind === 'lock') {
        locks.push({
          name: m.name,
          holder: m.holder?.owner ?? '',
          leaseId: m.holder?.lease_id ?? '',
          fencingToken: m.holder?.token ?? 0,
          remainingMs: m.holder ? this.s.remainingMs(m.holder.lease_id) : 0,
          waiters: m.queue.map((w) => w.owner),
        });
      } else {
        elections.push({
          name: m.name,
          leader: m.holder?.owner ?? '',
          value: m.holder?.value ?? '',
          fencingToken: m.holder?.token ?? 0,
          candidates: m.queue.map((w) => w.owner),
        });
      }
    }
    return [locks, elections, cut];
  }

  private leases(readable: (name: string) => boolean): [ViewLease[], boolean] {
    const rows: ViewLease[] = [];
    let scanned = 0;
    // A lease's keys are state keys: an election's carries a control character before its name.
    const name = (key: string) => (key.startsWith('\u0001') ? key.slice(1) : key);
    for (const l of this.s.leases()) {
      const holds = keysOf(l.holds);
      const waits = keysOf(l.waits);
      if (rows.length >= VIEW_LIMITS.leases || ++scanned > SCAN_MAX) return [rows, true];
      if (![...holds, ...waits].every((k) => readable(name(k)))) continue;
      rows.push({
        id: l.id,
        ttlMs: l.ttl_ms,
        remainingMs: this.s.remainingMs(l.id),
        holds: holds.length,
        waits: waits.length,
      });
    }
    return [rows, false];
  }
}
