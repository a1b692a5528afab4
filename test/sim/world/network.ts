// Message delivery between hosts under a fault policy. Generic: a message is a closure run on the
// receiving host, so the same network carries Raft messages, client RPCs and forwarded calls.
import type { HostId, SimHost } from './host.js';
import type { SimWorld } from './world.js';

export interface NetworkPolicy {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  dupRate: number;
  /** Delay of each delivery, uniform in [minDelayMs, maxDelayMs]: a spread reorders. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Transmission time per byte of sizeHint, in ms (0: size does not matter). */
  msPerByte: number;
  /**
   * A latency tail (retransmissions, a congested switch): this fraction of deliveries takes up
   * to tailDelayMs more, so that an old message can arrive long after newer ones.
   */
  tailRate: number;
  tailDelayMs: number;
}

export const calmNetwork: NetworkPolicy = {
  dropRate: 0,
  dupRate: 0,
  minDelayMs: 0.05,
  maxDelayMs: 2,
  msPerByte: 0,
  tailRate: 0,
  tailDelayMs: 0,
};

/**
 * What became of a message at the moment it was sent. Only 'sent' may arrive; 'down' and
 * 'blocked' are what a sender's connection would tell it, 'lost' it never learns.
 */
export type SendVerdict = 'sent' | 'lost' | 'blocked' | 'down';

export interface NetworkStats {
  sent: number;
  delivered: number;
  /** Lost to the drop rate, a blocked link, a down host, or a receiver that died in flight. */
  dropped: number;
  duplicated: number;
  bytes: number;
}

/**
 * Point-to-point delivery between host ids. A message is bound to the receiver's incarnation
 * at send time, like a connection: if that process dies before delivery, the message is lost
 * even if the host restarted. Delivery runs on the receiver's runtime, so it waits out a freeze.
 * Directed links can be blocked (partitions are sets of blocked links); a message is also lost
 * if its link is blocked when it would arrive.
 */
export class SimNetwork {
  policy: NetworkPolicy;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, bytes: 0 };
  private readonly blocked = new Set<string>();
  private readonly listeners = new Map<string, { host: SimHost; handler: (m: never) => void }>();

  constructor(
    readonly world: SimWorld,
    policy: Partial<NetworkPolicy> = {},
  ) {
    this.policy = { ...calmNetwork, ...policy };
  }

  // ---- links ---------------------------------------------------------------------------------

  block(from: HostId, to: HostId): void {
    if (from !== to) this.blocked.add(`${from}>${to}`);
  }

  unblock(from: HostId, to: HostId): void {
    this.blocked.delete(`${from}>${to}`);
  }

  isBlocked(from: HostId, to: HostId): boolean {
    return this.blocked.size > 0 && this.blocked.has(`${from}>${to}`);
  }

  /** Cuts every link between hosts of different groups, both ways (hosts in no group keep theirs). */
  partition(...groups: readonly HostId[][]): void {
    for (const [g, group] of groups.entries())
      for (const [h, other] of groups.entries())
        if (g !== h) for (const a of group) for (const b of other) this.block(a, b);
  }

  /** Cuts id from every other host, both ways. */
  isolate(id: HostId, others: readonly HostId[] = this.world.hostIds()): void {
    for (const o of others) {
      this.block(id, o);
      this.block(o, id);
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  /** The blocked directed links, "a>b", sorted: for traces and fault logs. */
  blockedLinks(): string[] {
    return [...this.blocked].sort();
  }

  // ---- delivery ------------------------------------------------------------------------------

  /**
   * Sends from `from` to host `to`: deliver runs on the receiving incarnation (as of now) after
   * the policy's delay, unless the policy or the faults lose it. Returns what the sender could
   * know at once.
   */
  send(from: SimHost, to: HostId, deliver: () => void, sizeHint = 0): SendVerdict {
    this.stats.sent++;
    const dest = this.world.host(to);
    if (from.crashed) return this.drop('down');
    if (dest === undefined || dest.crashed) return this.drop('down');
    if (this.isBlocked(from.id, to)) return this.drop('blocked');
    const p = this.policy;
    const rand = this.world.rand;
    this.stats.bytes += sizeHint;
    const copies = p.dupRate > 0 && rand() < p.dupRate ? 2 : 1;
    let verdict: SendVerdict = 'lost';
    for (let c = 0; c < copies; c++) {
      if (p.dropRate > 0 && rand() < p.dropRate) {
        this.stats.dropped++;
        continue;
      }
      if (c > 0) this.stats.duplicated++;
      verdict = 'sent';
      let delay = p.minDelayMs + rand() * (p.maxDelayMs - p.minDelayMs) + sizeHint * p.msPerByte;
      if (p.tailRate > 0 && rand() < p.tailRate) delay += rand() * p.tailDelayMs;
      this.world.schedule(delay, () => {
        if (dest.crashed || this.isBlocked(from.id, to)) {
          this.stats.dropped++;
          return;
        }
        this.stats.delivered++;
        dest.run(deliver);
      });
    }
    return verdict;
  }

  private drop(verdict: SendVerdict): SendVerdict {
    this.stats.dropped++;
    return verdict;
  }

  // ---- ports: a minimal addressing layer over send() -------------------------------------------

  /**
   * Registers handler for messages to (host.id, port) while this incarnation lives. Returns a
   * function that closes the port.
   */
  listen<T>(host: SimHost, port: string, handler: (msg: T) => void): () => void {
    const key = `${host.id}:${port}`;
    const entry = { host, handler: handler as (m: never) => void };
    this.listeners.set(key, entry);
    host.onCrash(() => {
      if (this.listeners.get(key) === entry) this.listeners.delete(key);
    });
    return () => {
      if (this.listeners.get(key) === entry) this.listeners.delete(key);
    };
  }

  /**
   * Sends msg to whatever listens on (to, port) in the receiving incarnation. A closed port is
   * 'down' (connection refused) at send time and a loss at delivery time.
   */
  post<T>(from: SimHost, to: HostId, port: string, msg: T, sizeHint = 0): SendVerdict {
    const key = `${to}:${port}`;
    const listener = this.listeners.get(key);
    if (listener === undefined || listener.host !== this.world.host(to)) {
      this.stats.sent++;
      return this.drop('down');
    }
    return this.send(
      from,
      to,
      () => {
        const now = this.listeners.get(key);
        if (now === listener) (now.handler as (m: T) => void)(msg);
      },
      sizeHint,
    );
  }
}
