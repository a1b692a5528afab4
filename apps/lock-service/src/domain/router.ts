import type { Logger } from 'pino';
import type * as api from './api.js';
import type { ApplyResult, UnstampedCommand } from './commands.js';
import { Code, DomainError, unavailable } from './errors.js';
import type { Runtime } from './runtime.js';
import type { LockStateView } from './state-view.js';

export type ServiceName = 'LockService' | 'ElectionService' | 'ClusterService';

/**
 * How a follower reaches the leader's API at its peer address: production forwards over gRPC on
 * the peer plane (marking the call, so that it is never forwarded again, and naming this
 * member); a simulator calls the other node's API in-process.
 */
export interface ForwardPort {
  call<T>(
    peerAddress: string,
    service: ServiceName,
    method: string,
    req: unknown,
    ctx: api.CallContext,
  ): Promise<T>;
  close(): void;
}

/** What the router needs to know of Raft and of the leader's duties. */
export interface RouterRaft {
  isLeader(): boolean;
  leaderId(): string;
  /** This node's applied index. */
  applied(): number;
  /** Whether id is a member of the configuration in force. */
  isMember(id: string): boolean;
  /** A member's peer address in the configuration in force, if it has one. */
  peerAddress(id: string): string | undefined;
}

export interface RouterOptions {
  readonly id: string;
  readonly clientAddress: string;
  readonly peers: Readonly<Record<string, string>>;
  readonly logger: Logger;
}

/** How often a follower checks that the log knows its client address, and retries. */
export const ANNOUNCE_CHECK_MS = 250;
const ANNOUNCE_RETRY_MS = 2_000;
/** How long a follower's Observe may take to catch up with the leader before it fails. */
const CATCH_UP_MS = 5_000;

/**
 * Sends every call to the leader: runs it here when this node leads (and its duties have
 * started), else forwards it to the leader's peer address (from --peers).
 */
export class LeaderRouter {
  /** Members whose client address the leader is writing to the log. */
  private readonly announcing = new Set<string>();
  private lastAnnounce = -Infinity;
  private stopped = false;

  constructor(
    private readonly raft: RouterRaft,
    private readonly leading: () => boolean,
    private readonly state: LockStateView,
    private readonly forward: ForwardPort,
    private readonly propose: (c: UnstampedCommand) => Promise<ApplyResult>,
    private readonly runtime: Runtime,
    private readonly opts: RouterOptions,
  ) {}

  stop(): void {
    this.stopped = true;
    this.forward.close();
  }

  /**
   * Where forwarded calls reach the leader, if this node knows one: its address in --peers (this
   * node's own view, which may route through a proxy), else the one the configuration in force
   * gives it (a member added since this node started).
   */
  private leaderAddress(): string | undefined {
    const leader = this.raft.leaderId();
    if (!leader) return undefined;
    return Object.hasOwn(this.opts.peers, leader)
      ? this.opts.peers[leader]
      : this.raft.peerAddress(leader);
  }

  /** Runs local() on the leader; elsewhere forwards the call to the leader. */
  async route<T>(
    service: ServiceName,
    method: string,
    req: unknown,
    ctx: api.CallContext,
    local: () => Promise<T>,
  ): Promise<T> {
    if (ctx.deadline !== undefined && ctx.deadline <= this.runtime.now()) {
      throw new DomainError(
        Code.DEADLINE_EXCEEDED,
        'deadline exceeded before the call was handled',
      );
    }
    if (this.leading()) {
      if (ctx.forwardedBy) this.learnMember(ctx.forwardedBy);
      return local();
    }
    if (this.raft.isLeader()) throw unavailable('the leader is still starting its term');
    if (ctx.forwarded) throw unavailable('not the leader');
    const address = this.leaderAddress();
    if (!address) throw unavailable('no leader is known');
    return this.forward.call<T>(address, service, method, req, ctx);
  }

  /**
   * A follower serves clients too: its client address must be in the members list, where
   * clients find it (Status, ListMembers). Until the log has it, the follower makes a forwarded
   * read now and then; forwarded calls name their member (see learnMember). Called every
   * ANNOUNCE_CHECK_MS.
   */
  announce(): void {
    if (this.stopped || this.leading()) return;
    if (this.state.memberAddress(this.opts.id) === this.opts.clientAddress) return;
    const address = this.leaderAddress();
    const now = this.runtime.now();
    if (!address || now - this.lastAnnounce < ANNOUNCE_RETRY_MS) return;
    this.lastAnnounce = now;
    const ctx: api.CallContext = { deadline: now + ANNOUNCE_RETRY_MS };
    this.forward
      .call(address, 'ClusterService', 'ListMembers', {}, ctx)
      .catch((e: Error) => this.opts.logger.debug({ err: e.message }, 'announce to leader failed'));
  }

  /** The leader writes a forwarding member's client address to the log if it is new. */
  private learnMember(by: { id: string; clientAddress: string }): void {
    if (!this.raft.isMember(by.id)) return;
    if (this.state.memberAddress(by.id) === by.clientAddress || this.announcing.has(by.id)) return;
    this.announcing.add(by.id);
    this.propose({ op: 'member', id: by.id, client_address: by.clientAddress })
      .catch((e: Error) => this.opts.logger.debug({ err: e.message }, 'member address not written'))
      .finally(() => this.announcing.delete(by.id));
  }

  /**
   * Waits until this follower has applied every write acknowledged before the call: the leader
   * answers a linearizable read (ListMembers runs its read barrier) and reports its applied
   * index, which is at or past that barrier.
   */
  async catchUpWithLeader(ctx: api.CallContext): Promise<void> {
    if (this.leading()) return;
    const address = this.leaderAddress();
    if (!address) throw unavailable('no leader is known');
    const until = this.runtime.now() + CATCH_UP_MS;
    const bounded: api.CallContext = { deadline: until, signal: ctx.signal };
    await this.forward.call(address, 'ClusterService', 'ListMembers', {}, bounded);
    const s = await this.forward.call<api.StatusResponse>(
      address,
      'ClusterService',
      'Status',
      {},
      bounded,
    );
    while (this.raft.applied() < s.applied_index) {
      if (this.stopped || ctx.signal?.aborted || this.runtime.now() > until)
        throw unavailable('this node is behind the leader');
      await new Promise<void>((r) => this.runtime.after(5, r));
    }
  }
}
