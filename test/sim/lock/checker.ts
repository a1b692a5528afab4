// The lock service's promises, checked by code on a simulation's history. Each check names what
// it examined, so that a check that silently examined nothing is seen.
import { LockEventType } from '../../../apps/lock-service/src/domain/api.js';
import type { SmEvent } from '../../../apps/lock-service/src/domain/events.js';
import type { Applied, Belief, LockHistory, Op, StreamRecord } from './history.js';
import { kindOfName } from './kinds.js';

/** Clock rates may be this far off real time; leases may run this much fast or slow. */
export const RATE_ERROR = 0.01;
/** The README's slack on the abandoned-lease bound. */
export const BOUND_SLACK_MS = 1_000;

export interface Violation {
  readonly property: string;
  readonly detail: string;
}

export interface CheckReport {
  readonly violations: Violation[];
  /** How many items each check examined. */
  readonly examined: Record<string, number>;
}

export interface CheckOptions {
  /** Real time at which the run ended: leases alive then are judged against it. */
  readonly end: number;
  /**
   * Leases abandoned by their clients (crashed or walked away), and the real time after which
   * no request of theirs could renew them any more.
   */
  readonly abandoned: ReadonlyMap<string, { at: number }>;
  /** The identity the nodes count as an admin: it may use any lease. */
  readonly admin: string;
}

type Ev = { index: number; at: number; clock: number; e: SmEvent };

/** Every applied event in log order, with its entry's index, first-apply time and clock. */
function events(h: LockHistory): Ev[] {
  const out: Ev[] = [];
  const entries = [...h.firstApplied.values()].sort((a, b) => a.index - b.index);
  for (const a of entries) for (const e of a.events) out.push(eventOf(a, e));
  return out;
}

const eventOf = (a: Applied, e: SmEvent): Ev => ({ index: a.index, at: a.at, clock: a.clock, e });

export function checkHistory(h: LockHistory, o: CheckOptions): CheckReport {
  const v: Violation[] = [];
  const examined: Record<string, number> = {};
  const add = (property: string, detail: string) => v.push({ property, detail });
  const evs = events(h);
  examined['mutual-exclusion'] = checkExclusion(h.beliefs, add);
  const kinds = checkLockKinds(evs, add);
  examined['lock-kinds'] = kinds.grants;
  examined['lock-delays'] = kinds.delays;
  examined['fenced-store'] = checkStore(h, add);
  examined['no-early-expiry'] = checkNoEarlyExpiry(h, evs, add);
  examined['abandoned-bound'] = checkAbandoned(h, evs, o, add);
  examined['live-grants'] = checkLiveGrants(evs, add);
  examined['retry-one-grant'] = checkRetries(h.ops, add);
  examined['no-orphan-grant'] = checkOrphans(h.ops, evs, add);
  examined['streams'] = checkStreams(h.streams, evs, add);
  examined['reads-linearizable'] = checkReads(h.ops, evs, add);
  examined['members-linearizable'] = checkMembers(h.ops, evs, add);
  examined['clock-monotonic'] = checkClock(h, add);
  examined['lease-ownership'] = checkOwnership(h.ops, o.admin, add);
  // The state machine is deterministic: every replica applies an entry to the same effect.
  for (const d of h.divergent) add('replicas-agree', d);
  examined['replicas-agree'] = h.firstApplied.size;
  return { violations: v, examined };
}

/**
 * No two leases' holders believe they hold one lock (or lead one election) at once, unless both
 * hold it SHARED; a semaphore's holders are counted against its limit instead.
 */
function checkExclusion(beliefs: Belief[], add: (p: string, d: string) => void): number {
  // A belief that ended before it began (answered after its validity) claimed nothing.
  const held = beliefs.filter((b) => b.to > b.from);
  const by = groupBy(held, (b) => `${b.mutex}:${b.name}`);
  let n = 0;
  for (const [key, all] of by) {
    all.sort((a, b) => a.from - b.from);
    n += checkSemaphore(
      key,
      all.filter((b) => (b.limit ?? 1) > 1),
      add,
    );
    const bs = all.filter((b) => (b.limit ?? 1) === 1);
    for (let i = 0; i < bs.length; i++) {
      for (let j = i + 1; j < bs.length && bs[j]!.from < bs[i]!.to; j++) {
        n++;
        const [a, b] = [bs[i]!, bs[j]!];
        if (a.lease === b.lease && a.token === b.token) continue;
        if (a.shared && b.shared) continue; // readers hold together
        add(
          'mutual-exclusion',
          `${key}: ${a.client} (token ${a.token}) believed it held until ${a.to.toFixed(1)}, ${b.client} (token ${b.token}) from ${b.from.toFixed(1)}`,
        );
      }
      // A later belief with a smaller token would pass a fenced store's check backwards (SHARED
      // holds granted together come in any order).
      const next = bs[i + 1];
      if (next && next.token < bs[i]!.token && !(next.shared && bs[i]!.shared))
        add('fencing', `${key}: token ${next.token} granted after ${bs[i]!.token}`);
    }
    n += bs.length;
  }
  return n;
}

/** At no moment more holders believe they hold a semaphore than its limit. */
function checkSemaphore(key: string, bs: Belief[], add: (p: string, d: string) => void): number {
  const edges = bs.flatMap((b) => [
    { at: b.from, d: 1, b },
    { at: b.to, d: -1, b },
  ]);
  // Ends before starts at the same instant: a hold handed on is not an overlap.
  edges.sort((x, y) => x.at - y.at || x.d - y.d);
  let holding = 0;
  for (const e of edges) {
    holding += e.d;
    if (e.d > 0 && holding > e.b.limit!)
      add(
        'semaphore-limit',
        `${key}: ${holding} holders believed they held it at ${e.at.toFixed(1)}, limit ${e.b.limit}`,
      );
  }
  return bs.length;
}

/**
 * The three kinds of hold, on the log itself: SHARED holders never next to an EXCLUSIVE one,
 * never more EXCLUSIVE holders than the name's limit, and no grant inside a lock-delay (from
 * the entry that expired a hold asking for one, for its delay on the lease clock).
 */
function checkLockKinds(
  evs: Ev[],
  add: (p: string, d: string) => void,
): { grants: number; delays: number } {
  const holders = new Map<string, Map<string, boolean>>(); // name -> lease -> shared
  const delayedUntil = new Map<string, number>();
  let [n, delays] = [0, 0];
  for (const x of evs) {
    const e = x.e;
    if (e.type !== 'lock') continue;
    const hs = holders.get(e.name) ?? new Map<string, boolean>();
    holders.set(e.name, hs);
    if (e.event !== LockEventType.ACQUIRED) {
      hs.delete(e.lease_id);
      const delay = kindOfName(e.name).delayMs;
      if (e.event === LockEventType.EXPIRED && delay > 0) {
        delays++;
        delayedUntil.set(e.name, Math.max(delayedUntil.get(e.name) ?? 0, x.clock + delay));
      }
      continue;
    }
    n++;
    const shared = e.shared === true;
    const until = delayedUntil.get(e.name) ?? 0;
    if (x.clock < until)
      add(
        'lock-delay',
        `${e.name}: granted to ${e.owner} (token ${e.token}) at lease clock ${x.clock.toFixed(1)}, inside a lock-delay until ${until.toFixed(1)}`,
      );
    const others = [...hs.values()];
    if (others.some((s) => s !== shared))
      add(
        'readers-writer',
        `${e.name}: ${shared ? 'a SHARED' : 'an EXCLUSIVE'} grant to ${e.owner} (token ${e.token}) next to ${others.length} holder(s) of the other mode`,
      );
    const limit = kindOfName(e.name).limit;
    if (!shared && others.length + 1 > limit)
      add(
        'semaphore-limit',
        `${e.name}: ${others.length + 1} EXCLUSIVE holders after the grant of token ${e.token}, limit ${limit}`,
      );
    hs.set(e.lease_id, shared);
  }
  return { grants: n, delays };
}

/** A holder writing within its belief is never refused: nobody with a newer token wrote yet. */
function checkStore(h: LockHistory, add: (p: string, d: string) => void): number {
  for (const w of h.writes)
    if (!w.accepted)
      add(
        'fenced-store',
        `${w.name}: ${w.client}'s write with token ${w.token} refused at ${w.at.toFixed(1)}`,
      );
  return h.writes.length;
}

/**
 * No lease expires before its holder was promised: the last confirmed renewal's send plus the
 * TTL, less what clock rates may take off.
 */
function checkNoEarlyExpiry(
  h: LockHistory,
  evs: Ev[],
  add: (p: string, d: string) => void,
): number {
  const expired = new Map<string, number>();
  for (const x of evs)
    if (x.e.type === 'lease_gone' && x.e.expired && !expired.has(x.e.lease_id))
      expired.set(x.e.lease_id, x.at);
  let n = 0;
  for (const b of h.beliefs) {
    const at = expired.get(b.lease);
    if (at === undefined) continue;
    n++;
    const promised = Math.max(...b.promises.map((x) => x.send + x.ttl / (1 + RATE_ERROR)));
    if (at < promised)
      add(
        'no-early-expiry',
        `lease ${b.lease} of ${b.client} expired at ${at.toFixed(1)}, promised until ${promised.toFixed(1)}`,
      );
  }
  return n;
}

/**
 * An abandoned lease expires within TTL + the time without a functioning leader since its last
 * renewal + 1 s (TTL taken at the slowest clock rate). Its last renewal is the last one applied
 * before its client could no longer have caused one: a renewal after that is the server's own
 * doing, and does not move the bound.
 */
function checkAbandoned(
  h: LockHistory,
  evs: Ev[],
  o: CheckOptions,
  add: (p: string, d: string) => void,
): number {
  const renewals = new Map<string, { at: number; ttl: number }[]>();
  const gone = new Map<string, number>();
  for (const x of evs) {
    if (x.e.type === 'lease') {
      const list = renewals.get(x.e.lease_id) ?? [];
      // The first event creates it: its TTL is what its expiry is past its stamp.
      list.push({ at: x.at, ttl: list[0]?.ttl ?? x.e.expires_at - x.clock });
      renewals.set(x.e.lease_id, list);
    } else if (x.e.type === 'lease_gone' && !gone.has(x.e.lease_id)) {
      gone.set(x.e.lease_id, x.at);
    }
  }
  let n = 0;
  for (const [lease, a] of o.abandoned) {
    const r = renewals
      .get(lease)
      ?.filter((x) => x.at <= a.at)
      .at(-1);
    if (!r) continue;
    const end = gone.get(lease) ?? o.end;
    const bound = r.at + r.ttl * (1 + RATE_ERROR) + h.leaderlessWithin(r.at, end) + BOUND_SLACK_MS;
    if (!gone.has(lease) && o.end < bound) continue; // the run ended before the bound
    n++;
    if (end > bound)
      add(
        'abandoned-bound',
        `lease ${lease} last renewed by its client at ${r.at.toFixed(1)} (TTL ${r.ttl}) still alive at ${end.toFixed(1)}, bound ${bound.toFixed(1)}`,
      );
  }
  return n;
}

/** Nobody is granted on a lease past its expiry (an expired waiter is never granted). */
function checkLiveGrants(evs: Ev[], add: (p: string, d: string) => void): number {
  const expires = new Map<string, number>();
  let n = 0;
  for (const x of evs) {
    const e = x.e;
    if (e.type === 'lease') expires.set(e.lease_id, e.expires_at);
    else if (e.type === 'lease_gone') expires.delete(e.lease_id);
    const lease =
      e.type === 'lock' && e.event === LockEventType.ACQUIRED
        ? e.lease_id
        : e.type === 'election' && e.leader && e.leader.token === x.index
          ? e.leader.lease_id
          : undefined;
    if (lease === undefined) continue;
    n++;
    if ((expires.get(lease) ?? -Infinity) <= x.clock)
      add('live-grants', `entry ${x.index} granted on lease ${lease}, gone or past its expiry`);
  }
  return n;
}

/** A request id never yields two different grants. */
function checkRetries(ops: Op[], add: (p: string, d: string) => void): number {
  const seen = new Map<string, { lease: string; token: number }>();
  let n = 0;
  for (const o of ops) {
    if ((o.kind !== 'acquire' && o.kind !== 'campaign') || !o.grant || !o.requestId) continue;
    n++;
    const key = `${o.client}/${o.mutex}:${o.name}/${o.requestId}`;
    const prev = seen.get(key);
    if (!prev) seen.set(key, o.grant);
    else if (prev.lease !== o.grant.lease || prev.token !== o.grant.token)
      add(
        'retry-one-grant',
        `${key}: granted ${prev.lease}/${prev.token} and ${o.grant.lease}/${o.grant.token}`,
      );
  }
  return n;
}

/**
 * A call answered "not granted" was not granted behind its back: no grant names its owner
 * (owners are unique per call), or the lock would sit on a lease nobody knows of. Calls the
 * client repeated without a request_id are left out: that is what request ids are for.
 */
function checkOrphans(ops: Op[], evs: Ev[], add: (p: string, d: string) => void): number {
  const grantedOwners = new Map<string, number>();
  for (const { index, e } of evs) {
    if (e.type === 'lock' && e.event === LockEventType.ACQUIRED) grantedOwners.set(e.owner, index);
    else if (e.type === 'election' && e.leader?.token === index)
      grantedOwners.set(e.leader.candidate, index);
  }
  let n = 0;
  for (const o of ops) {
    if ((o.kind !== 'acquire' && o.kind !== 'campaign') || o.outcome !== 'ok' || !o.owner) continue;
    // A retry without a request_id is a new request: the client itself may have been granted.
    if (!o.requestId && (o.attempts ?? 1) > 1) continue;
    n++;
    const at = grantedOwners.get(o.owner);
    if (!o.grant && at !== undefined)
      add(
        'no-orphan-grant',
        `${o.kind} by ${o.owner} answered not granted, yet entry ${at} granted it`,
      );
  }
  return n;
}

/** Watch and Observe deliver, in log order and without gaps, what their node applied. */
function checkStreams(
  streams: StreamRecord[],
  evs: Ev[],
  add: (p: string, d: string) => void,
): number {
  let n = 0;
  for (const s of streams) {
    const truth = s.kind === 'watch' ? watchTruth(evs, s.key) : observeTruth(evs, s.key);
    if (s.items.length === 0) continue;
    n++;
    // Observe's first item is the state when it started, a Watch's first any event: the items
    // must follow each other in the truth from some place where the first one happened.
    const starts: number[] = [];
    truth.forEach((t, i) => same(t, s.items[0]!) && starts.push(i));
    if (starts.length === 0) {
      add(
        'streams',
        `${s.kind} ${s.key} on ${s.node}: first item ${JSON.stringify(s.items[0])} never happened`,
      );
      continue;
    }
    let best = { from: 0, matched: 0 };
    for (const k of starts) {
      let m = 1;
      while (m < s.items.length && truth[k + m] && same(truth[k + m]!, s.items[m]!)) m++;
      if (m > best.matched) best = { from: k, matched: m };
      if (m === s.items.length) break;
    }
    if (best.matched < s.items.length) {
      const at = best.from + best.matched;
      add(
        'streams',
        `${s.kind} ${s.key} on ${s.node}: ${JSON.stringify(s.items[best.matched])} after ${JSON.stringify(truth[at - 1])}, expected ${JSON.stringify(truth[at])}`,
      );
    }
  }
  return n;
}

type Item = { name: string; type: number; owner: string; token: number };
const same = (a: Item, b: Item) =>
  a.name === b.name && a.type === b.type && a.owner === b.owner && a.token === b.token;

function watchTruth(evs: Ev[], prefix: string): Item[] {
  const out: Item[] = [];
  for (const { e } of evs)
    if (e.type === 'lock' && e.name.startsWith(prefix))
      out.push({ name: e.name, type: e.event, owner: e.owner, token: e.token });
  return out;
}

/** The election's states in log order, the one before any event included. */
function observeTruth(evs: Ev[], election: string): Item[] {
  const out: Item[] = [{ name: election, type: 0, owner: '', token: 0 }];
  for (const { e } of evs)
    if (e.type === 'election' && e.name === election)
      out.push({
        name: election,
        type: 0,
        owner: e.leader ? `${e.leader.candidate}\u0000${e.leader.value}` : '',
        token: e.leader?.token ?? 0,
      });
  return out;
}

/**
 * Describe and Leader are linearizable: each answer is the holder after some entry that was
 * applied somewhere before the answer came, and not replaced by an entry applied anywhere
 * before the call was made.
 */
function checkReads(ops: Op[], evs: Ev[], add: (p: string, d: string) => void): number {
  const timeline = new Map<string, { index: number; at: number; token: number }[]>();
  const push = (key: string, index: number, at: number, token: number) => {
    const t = timeline.get(key) ?? [{ index: 0, at: -Infinity, token: 0 }];
    t.push({ index, at, token });
    timeline.set(key, t);
  };
  // Describe answers a lock's oldest holder: its holders in grant order, by lease.
  const holders = new Map<string, Map<string, number>>();
  for (const x of evs) {
    const e = x.e;
    if (e.type === 'lock') {
      const hs = holders.get(e.name) ?? new Map<string, number>();
      holders.set(e.name, hs);
      if (e.event === LockEventType.ACQUIRED) hs.set(e.lease_id, e.token);
      else hs.delete(e.lease_id);
      push(`lock:${e.name}`, x.index, x.at, hs.values().next().value ?? 0);
    } else if (e.type === 'election')
      push(`election:${e.name}`, x.index, x.at, e.leader?.token ?? 0);
  }
  let n = 0;
  for (const o of ops) {
    if ((o.kind !== 'describe' && o.kind !== 'leader') || o.outcome !== 'ok' || !o.holder) continue;
    n++;
    const t = timeline.get(`${o.mutex}:${o.name}`) ?? [{ index: 0, at: -Infinity, token: 0 }];
    const ok = t.some(
      (s, i) =>
        s.token === o.holder!.token && s.at <= o.complete! && (t[i + 1]?.at ?? Infinity) > o.invoke,
    );
    if (!ok)
      add(
        'reads-linearizable',
        `${o.kind} ${o.name} by ${o.client} [${o.invoke.toFixed(1)}, ${o.complete!.toFixed(1)}] saw token ${o.holder.token}`,
      );
  }
  return n;
}

/**
 * ListMembers is linearizable: each member's address as answered was written by an entry
 * applied somewhere before the answer came, and not replaced by one applied before the call.
 */
function checkMembers(ops: Op[], evs: Ev[], add: (p: string, d: string) => void): number {
  const writes = new Map<string, { at: number; address: string }[]>();
  for (const { at, e } of evs)
    if (e.type === 'member') {
      const w = writes.get(e.id) ?? [{ at: -Infinity, address: '' }];
      w.push({ at, address: e.client_address });
      writes.set(e.id, w);
    }
  let n = 0;
  for (const o of ops) {
    if (o.kind !== 'members' || o.outcome !== 'ok' || !o.members) continue;
    n++;
    for (const [id, address] of Object.entries(o.members)) {
      // A member that never wrote its address answers with its configured one on itself only.
      const w = writes.get(id) ?? [{ at: -Infinity, address: '' }];
      const ok = w.some(
        (x, i) =>
          (x.address === address || (i === 0 && address === id)) &&
          x.at <= o.complete! &&
          (w[i + 1]?.at ?? Infinity) > o.invoke,
      );
      if (!ok)
        add(
          'members-linearizable',
          `ListMembers by ${o.client} [${o.invoke.toFixed(1)}, ${o.complete!.toFixed(1)}] answered ${id}=${JSON.stringify(address)}`,
        );
    }
  }
  return n;
}

/**
 * A lease is used only by the identity that created it, or an admin: no call of another
 * identity on it renews it, releases anything of it, is granted with it, or proclaims with it.
 */
function checkOwnership(ops: Op[], admin: string, add: (p: string, d: string) => void): number {
  const creator = new Map<string, string>();
  for (const o of ops)
    if ((o.kind === 'acquire' || o.kind === 'campaign') && o.grant && o.lease === '')
      if (!creator.has(o.grant.lease)) creator.set(o.grant.lease, o.principal);
  let n = 0;
  for (const o of ops) {
    const owner = creator.get(o.lease);
    if (o.lease === '' || owner === undefined || owner === o.principal || o.principal === admin)
      continue;
    // Examined: the calls the service decided (refused, or answered), not those lost or late.
    if (o.outcome === 'ok' || o.code === 7) n++;
    const used =
      o.outcome === 'ok' &&
      (o.kind === 'renew' ||
        o.kind === 'proclaim' ||
        ((o.kind === 'release' || o.kind === 'resign') && o.released === true) ||
        o.grant !== undefined);
    if (used)
      add(
        'lease-ownership',
        `${o.kind} by ${o.client} as ${o.principal} used lease ${o.lease} of ${owner} [${o.invoke.toFixed(1)}, ${o.complete!.toFixed(1)}]`,
      );
  }
  return n;
}

/** The lease clock never goes back along the log. */
function checkClock(h: LockHistory, add: (p: string, d: string) => void): number {
  const entries = [...h.firstApplied.values()].sort((a, b) => a.index - b.index);
  for (let i = 1; i < entries.length; i++)
    if (entries[i]!.clock < entries[i - 1]!.clock)
      add(
        'clock-monotonic',
        `entry ${entries[i]!.index} clock ${entries[i]!.clock} < ${entries[i - 1]!.clock}`,
      );
  return entries.length;
}

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const l = m.get(k);
    if (l) l.push(x);
    else m.set(k, [x]);
  }
  return m;
}
