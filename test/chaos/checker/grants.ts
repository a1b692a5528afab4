// Turns a history into grants per mutex: who was granted what token, when the client was allowed
// to believe it held the mutex, and the bounds on when its lease may have gone. Every bound errs on
// the permissive side (earlier sends, later receipts), so a violation found from them is real.
import type { History, Op, SeenHolder, StreamEvent } from '../history.js';

export interface Interval {
  from: number;
  to: number;
}

export interface Grant {
  key: string;
  owner: string;
  client: string;
  token: number | null;
  lease: string | null;
  ttl: number;
  /** The hold's kind, as its acquire asked: SHARED, EXCLUSIVE holders allowed at once, delay. */
  shared: boolean;
  limit: number;
  delayMs: number;
  acquire: Op;
  /** The client was told (an acknowledged grant); false: inferred from reports naming its owner. */
  acked: boolean;
  /** The grant happened no later than this: its reply, or the first report naming it. */
  by: number;
  /**
   * When the client was allowed to believe it held the mutex: from the receipt of each confirmed
   * grant or renewal until that request's SEND time + TTL, cut at its own release or loss.
   */
  validity: Interval[];
  /** The server may not drop the lease on its own before this: latest confirmed send + TTL. */
  floor: number;
  /**
   * Earliest time a release of this lease may have been sent (Infinity: never): a release the
   * client sent, or one its SDK sent on its own (recorded at that send, never earlier).
   */
  releaseFrom: number;
  /**
   * The end of the holder's belief window: the mutex is this grant's until at least then, so
   * no later grant (by token) may have been made before it. The floor, unless a release may
   * have been sent earlier.
   */
  holdsUntil: number;
  releaseAck: Op | null;
  /**
   * The mutex was certainly freed (in the replicated state) by this time (Infinity: not known),
   * and how we know: an acknowledged release, or a Watch event (emitted when applied).
   */
  goneBy: number;
  goneWhy: string;
  /**
   * The server told the client its lease was gone (a renewal answered NOT_FOUND). The leader
   * says so once the lease's deadline passed, before its expiry is committed, so a read may
   * still show the holder for a moment: this bounds the lease, not the mutex's state.
   */
  lostBy: number;
  lostWhy: string;
}

export interface KeyHistory {
  key: string;
  /** Every acquire was EXCLUSIVE with limit 1: one holder at a time, the mutex model applies. */
  plain: boolean;
  ops: Op[];
  /** By token; grants whose token is unknown come last, by invoke time. */
  grants: Grant[];
  byOwner: Map<string, Grant>;
  byToken: Map<number, Grant>;
  /** Watch and Observe messages about this mutex. */
  events: StreamEvent[];
}

/** A report that names a holder: who, with which token (if said), and when we had it. */
interface Sighting {
  token: number | null;
  at: number;
}

export function mergeIntervals(xs: Interval[]): Interval[] {
  const sorted = xs.filter((i) => i.to > i.from).sort((a, b) => a.from - b.from);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out.at(-1);
    if (last && i.from <= last.to) last.to = Math.max(last.to, i.to);
    else out.push({ ...i });
  }
  return out;
}

export function covers(xs: readonly Interval[], from: number, to = from): boolean {
  return xs.some((i) => i.from <= from && to < i.to);
}

function sightings(ops: Op[], events: StreamEvent[]): Map<string, Sighting> {
  const seen = new Map<string, Sighting>();
  const note = (owner: string | undefined, token: number | null, at: number | null) => {
    if (!owner || at === null) return;
    const prev = seen.get(owner);
    if (!prev || at < prev.at) seen.set(owner, { token: token ?? prev?.token ?? null, at });
    else if (prev.token === null && token !== null) prev.token = token;
  };
  for (const o of ops) {
    if (o.outcome !== 'ok') continue;
    if (o.kind === 'describe') for (const s of holdersSeen(o)) note(s.owner, s.token, o.complete);
    if (o.kind === 'acquire' && o.granted === false) note(o.holder, null, o.complete);
  }
  for (const e of events)
    if (e.kind === 'acquired' || e.kind === 'leader') note(e.owner, e.token, e.at);
  return seen;
}

/** The holders a successful read showed: its holder list, or the one holder it named. */
export function holdersSeen(d: Op): SeenHolder[] {
  if (d.holders) return d.holders;
  return d.held ? [{ owner: d.holder ?? '', token: d.token ?? 0, shared: false }] : [];
}

export function groupBy<T>(xs: Iterable<T>, keyOf: (x: T) => string | undefined): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of xs) {
    const k = keyOf(x);
    if (k === undefined) continue;
    const list = out.get(k);
    if (list) list.push(x);
    else out.set(k, [x]);
  }
  return out;
}

export function buildGrants(h: History): Map<string, KeyHistory> {
  const ends = groupBy(
    h.streams.filter((e) => e.kind === 'released' || e.kind === 'expired'),
    (e) => `${e.key}/${e.owner}`,
  );
  const events = groupBy(h.streams, (e) => e.key);
  const out = new Map<string, KeyHistory>();
  for (const [key, ops] of groupBy(h.ops, (o) => o.key))
    out.set(key, buildKey(key, ops, events.get(key) ?? [], ends));
  return out;
}

function buildKey(
  key: string,
  ops: Op[],
  events: StreamEvent[],
  ends: Map<string, StreamEvent[]>,
): KeyHistory {
  const seen = sightings(ops, events);
  const byLease = groupBy(
    ops.filter((o) => o.kind !== 'acquire'),
    (o) => o.lease,
  );
  const grants: Grant[] = [];
  for (const a of ops) {
    if (a.kind !== 'acquire' || !a.owner) continue;
    const acked = a.outcome === 'ok' && a.granted === true;
    const sighted = seen.get(a.owner);
    if (!acked && !sighted) continue; // never granted, or never visible: no effect to check
    const leaseOps = acked && a.lease ? (byLease.get(a.lease) ?? []) : [];
    grants.push(grant(key, a, acked, sighted, leaseOps, ends.get(`${key}/${a.owner}`) ?? []));
  }
  grants.sort(
    (x, y) => (x.token ?? Infinity) - (y.token ?? Infinity) || x.acquire.invoke - y.acquire.invoke,
  );
  const byOwner = new Map(grants.map((g) => [g.owner, g]));
  const byToken = new Map<number, Grant>();
  for (const g of grants) if (g.token !== null && !byToken.has(g.token)) byToken.set(g.token, g);
  const plain = ops.every((o) => o.kind !== 'acquire' || (!o.shared && (o.limit ?? 1) <= 1));
  return { key, plain, ops, grants, byOwner, byToken, events };
}

function grant(
  key: string,
  a: Op,
  acked: boolean,
  sighted: Sighting | undefined,
  leaseOps: Op[],
  ends: StreamEvent[],
): Grant {
  const ttl = a.ttlMs ?? 0;
  const confirmations = [
    ...(acked ? [a] : []),
    ...leaseOps.filter((o) => o.kind === 'renew' && o.outcome === 'ok'),
  ];
  const floor = Math.max(a.invoke + ttl, ...confirmations.map((c) => c.invoke + ttl));
  const releases = leaseOps.filter((o) => o.kind === 'release');
  const losses = leaseOps.filter((o) => o.kind === 'lost');
  // The client stops believing when it sends a release or decides the lease is lost.
  const cut = Math.min(Infinity, ...releases.map((o) => o.invoke), ...losses.map((o) => o.invoke));
  const validity = mergeIntervals(
    confirmations.map((c) => ({ from: c.complete!, to: Math.min(c.invoke + ttl, cut) })),
  );
  const releaseFrom = Math.min(
    Infinity,
    ...releases.map((o) => o.invoke),
    // The SDK sends a release of its own when it gives up on renewing.
    ...losses.filter((o) => !o.definite).map((o) => o.invoke),
  );
  const releaseAck = releases.find((o) => o.outcome === 'ok' && o.released === true) ?? null;
  let goneBy = Infinity;
  let goneWhy = '';
  const gone = (at: number | null, why: string) => {
    if (at !== null && at < goneBy) [goneBy, goneWhy] = [at, why];
  };
  if (releaseAck) gone(releaseAck.complete, `release acknowledged (op ${releaseAck.id})`);
  for (const e of ends) gone(e.at, `Watch ${e.kind} on ${e.stream}`);
  let [lostBy, lostWhy] = [Infinity, ''];
  for (const o of leaseOps) {
    if (o.kind === 'renew' && o.outcome === 'fail' && o.complete! < lostBy)
      [lostBy, lostWhy] = [o.complete!, `renewal answered NOT_FOUND (op ${o.id})`];
    if (o.kind === 'lost' && o.definite && o.invoke < lostBy)
      [lostBy, lostWhy] = [
        o.invoke,
        `KeepAlive answered NOT_FOUND, as the SDK reported (op ${o.id})`,
      ];
  }
  return {
    key,
    owner: a.owner!,
    client: a.client,
    token: acked ? (a.token ?? null) : (sighted?.token ?? null),
    lease: acked ? (a.lease ?? null) : null,
    ttl,
    shared: a.shared === true,
    limit: Math.max(1, a.limit ?? 1),
    delayMs: a.lockDelayMs ?? 0,
    acquire: a,
    acked,
    // A report naming the holder can arrive before the grant's own reply.
    by: Math.min(acked ? a.complete! : Infinity, sighted?.at ?? Infinity),
    validity,
    floor,
    releaseFrom,
    holdsUntil: Math.min(floor, releaseFrom),
    releaseAck,
    goneBy,
    goneWhy,
    lostBy,
    lostWhy,
  };
}
