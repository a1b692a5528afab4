// Who may hold a lock beside whom, checked on the grant table: one EXCLUSIVE holder of a mutex;
// SHARED holders together but never beside an EXCLUSIVE one; at most `limit` EXCLUSIVE holders
// of a semaphore; no grant inside a lock-delay. Each rule is checked two ways, both erring on the
// permissive side: the clients' belief windows (validity intervals) must fit together, and a
// grant must fit beside the earlier grants whose leases could not yet have gone when it was made.
import type { Grant, KeyHistory } from './grants.js';
import { grantName as name, ms as t, type Violations } from './safety.js';

export interface Clash {
  /** mutual-exclusion, readers-writer or semaphore-limit. */
  property: string;
  /** The holders g may not hold beside. */
  with: Grant[];
  why: string;
}

/**
 * How g clashes with `holders` (grants that held the lock when g did), if it does. A name's limit
 * is fixed by its first holder, so holders at once asked for the same one; the largest asked
 * for is used, so that only a certain excess is reported.
 */
export function clash(g: Grant, holders: readonly Grant[]): Clash | null {
  const others = holders.filter((h) => h !== g);
  const other = others.filter((h) => h.shared !== g.shared);
  if (other.length > 0)
    return {
      property: 'readers-writer',
      with: other,
      why: `${g.shared ? 'a SHARED' : 'an EXCLUSIVE'} hold beside ${other.length} of the other mode`,
    };
  if (g.shared) return null;
  const limit = Math.max(g.limit, ...others.map((h) => h.limit));
  if (others.length < limit) return null;
  if (limit === 1) return { property: 'mutual-exclusion', with: others, why: '' };
  return {
    property: 'semaphore-limit',
    with: others,
    why: `${others.length + 1} EXCLUSIVE holders, limit ${limit}`,
  };
}

const because = (c: Clash) => (c.why ? ` (${c.why})` : '');

/** The validity intervals of a lock's grants fit together; returns how many it compared. */
export function checkMutualExclusion(kh: KeyHistory, v: Violations): number {
  const all = kh.grants
    .flatMap((g) => g.validity.map((i) => ({ ...i, g })))
    .sort((a, b) => a.from - b.from);
  let active: typeof all = [];
  for (const i of all) {
    active = active.filter((a) => a.to > i.from && a.g !== i.g);
    const c = clash(
      i.g,
      active.map((a) => a.g),
    );
    if (c) {
      const cur = active
        .filter((a) => c.with.includes(a.g))
        .reduce((x, y) => (y.to > x.to ? y : x));
      v.add(
        c.property,
        kh.key,
        `${name(i.g)} was allowed to hold from ${t(i.from)} while ${name(cur.g)} was until ${t(cur.to)}${because(c)}`,
        [cur.g.acquire.id, i.g.acquire.id],
      );
    }
    active.push(i);
  }
  return all.length;
}

export interface HandOverStats {
  /** Grants checked against the belief windows of the grants before them (by token). */
  handOvers: number;
  /** Of those, grants made to an acquire that waited in the queue. */
  waits: number;
}

/**
 * The previous holders' belief windows are not cut short by the next grant. Grants are made in
 * token order, and the lease of a grant keeps its lock until the lease's floor (latest
 * confirmed send + TTL) unless a release of it may have been sent. So a grant made before an
 * earlier-token grant's holdsUntil was made beside it: on a mutex, an early re-grant or an early
 * expiry; on the other kinds, a breach when the two may not hold together. The next grant is
 * dated as late as it can be (its reply, or the first report naming it), the previous window's
 * end as early as it can be (the request's send time), so a correct server is never flagged,
 * even when a reply arrives long after the server answered.
 */
export function checkHandOvers(kh: KeyHistory, v: Violations): HandOverStats {
  const stats: HandOverStats = { handOvers: 0, waits: 0 };
  const known = kh.grants.filter((g) => g.token !== null); // sorted by token
  let earlier = 0; // known[0, earlier) have smaller tokens than the grant checked
  for (const g of known) {
    while (known[earlier]!.token! < g.token!) earlier++;
    if (earlier === 0) continue;
    stats.handOvers++;
    if (g.acked && (g.acquire.waitMs ?? 0) > 0) stats.waits++;
    const holding = known.slice(0, earlier).filter((p) => g.by < p.holdsUntil);
    const c = clash(g, holding);
    if (!c) continue;
    const prev = c.with.reduce((x, y) => (y.holdsUntil > x.holdsUntil ? y : x));
    const why =
      prev.releaseFrom < prev.floor
        ? `its release may have been sent at ${t(prev.releaseFrom)}`
        : `its last confirmed request was sent at ${t(prev.floor - prev.ttl)}, TTL ${prev.ttl} ms, and no release was sent before`;
    v.add(
      c.property === 'mutual-exclusion' ? 'regrant-before-floor' : c.property,
      kh.key,
      `${name(g)} was granted by ${t(g.by)}, while ${name(prev)} still held it until at least ${t(prev.holdsUntil)}: ${why}${because(c)}`,
      [prev.acquire.id, g.acquire.id],
    );
  }
  return stats;
}

/**
 * No grant inside a lock-delay. When the lease of a grant d that asked for one expires (not by
 * a release), nobody is granted the lock for d.delayMs of lease-clock time after the expiry is
 * applied. The expiry comes no earlier than d's floor (else lease-kept-for-ttl fires), and the
 * lease clock runs no faster than real time, so no grant made after the expiry may come before
 * floor + delay. A later grant g certainly came after the expiry when a Watch reported the
 * expiry before g was requested, or when g may not hold beside d and no release of d's lease
 * may have been sent before g was made (in any other order g broke exclusion, reported above).
 * Returns how many delays were checked against a grant after them.
 */
export function checkLockDelays(kh: KeyHistory, v: Violations): number {
  const expired = new Map<string, number>();
  for (const e of kh.events)
    if (e.kind === 'expired') expired.set(e.owner, Math.min(e.at, expired.get(e.owner) ?? e.at));
  let delays = 0;
  for (const d of kh.grants) {
    if (!d.acked || d.delayMs <= 0 || d.token === null) continue;
    const until = d.floor + d.delayMs;
    const seen = expired.get(d.owner) ?? Infinity;
    let checked = false;
    for (const g of kh.grants) {
      if (g.token === null || g.token <= d.token) continue;
      const afterWatch = g.acquire.invoke > seen;
      const afterExpiry = d.releaseFrom > g.by && clash(g, [d]) !== null;
      if (!afterWatch && !afterExpiry) continue;
      checked = true;
      if (g.by >= until) continue;
      const how = afterWatch
        ? `a Watch reported its expiry at ${t(seen)}, before ${g.owner} asked`
        : `no release of its lease was sent before, so it ended by expiry`;
      v.add(
        'lock-delay',
        kh.key,
        `${name(g)} was granted by ${t(g.by)}, inside the ${d.delayMs} ms lock-delay of ${name(d)}: ${how}, no earlier than its floor ${t(d.floor)}, so no grant before ${t(until)}`,
        [d.acquire.id, g.acquire.id],
      );
    }
    if (checked) delays++;
  }
  return delays;
}
