import type { SmEvent } from './events.js';

/**
 * This node's reading of the cluster's lease clock, the time base of every lease.
 *
 * The clock is carried by the log: the leader stamps each command with its reading, and a lease
 * expires when the first entry stamped at or after its expiry applies (state-machine.ts). A
 * node's reading is the stamp of the latest applied entry not stamped by itself as the current
 * leader, plus the local time since it applied that entry. So a new leader continues the clock
 * where its predecessor's last entry left it, instead of restarting every TTL.
 *
 * Never ahead of real time. For entries e before j in the log, stamp(j) - stamp(e) is at most
 * the real time between their stamping: by induction along the log, since a leader's reading
 * is an earlier entry's stamp plus local time elapsed since it applied that entry, which is
 * after that entry was stamped; and a leader does not re-anchor on its own entries, whose stamps
 * are its own readings. Hence a lease renewed by entry e (stamped after the client sent the
 * renewal at s) and expired by entry j (stamp(j) >= stamp(e) + TTL) is expired no earlier than
 * s + TTL in real time, as the client was promised (up to the clocks' rate error).
 *
 * Never far behind. A reading loses only the time between an entry's stamping and its apply on
 * the node that next leads, plus, if that node lagged, the time since the previous leader's
 * last entry; a leader with leases writes a tick at least every checkpoint interval. So an
 * abandoned lease expires within TTL + the time without a leader + about one interval.
 */
export class LeaseClock {
  private stamp = 0;
  private at: number;
  /** The term this node leads, once its no-op is applied; 0 otherwise. */
  private leadingTerm = 0;

  constructor(private readonly localNow: () => number) {
    this.at = localNow();
  }

  /** The lease clock now, in ms. */
  now(): number {
    return this.stamp + (this.localNow() - this.at);
  }

  onEvent(e: SmEvent, clockAfterRestore: () => number): void {
    if (e.type === 'stamp') {
      // Our own entries carry our own readings: re-anchoring on them would only lose the time
      // they took to commit.
      if (e.term !== this.leadingTerm || this.leadingTerm === 0) this.anchor(e.clock);
    } else if (e.type === 'restored') {
      this.anchor(clockAfterRestore());
    }
  }

  startLeading(term: number): void {
    this.leadingTerm = term;
  }

  stopLeading(): void {
    this.leadingTerm = 0;
  }

  private anchor(stamp: number): void {
    this.stamp = stamp;
    this.at = this.localNow();
  }
}
