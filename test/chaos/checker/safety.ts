// Mutual exclusion, fencing tokens, the fenced store, and that acknowledged operations are not
// lost, checked directly on the grant table. Each violation names the ops that show it.
import type { History, Op, SeenHolder, StoreWrite } from '../history.js';
import { covers, type Grant, groupBy, holdersSeen, type KeyHistory } from './grants.js';

export interface Violation {
  property: string;
  key: string;
  message: string;
  /** Op ids (and for writes/streams, times) that show it. */
  ops: number[];
}

/** Per property and key, the first few: one is enough to fail, a flood helps nobody. */
const MAX_PER_KEY = 5;

export class Violations {
  readonly list: Violation[] = [];
  private readonly counts = new Map<string, number>();

  add(property: string, key: string, message: string, ops: number[] = []): void {
    const k = `${property}/${key}`;
    const n = (this.counts.get(k) ?? 0) + 1;
    this.counts.set(k, n);
    if (n <= MAX_PER_KEY) this.list.push({ property, key, message, ops });
  }

  /** How many were found, including those not listed. */
  get total(): number {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }
}

export const ms = (at: number) => (Number.isFinite(at) ? at.toFixed(1) : String(at));
export const grantName = (g: Grant) => `${g.owner} (token ${g.token ?? '?'}, op ${g.acquire.id})`;
const t = ms;
const name = grantName;
/** Grants one entry may make together: SHARED ones, or EXCLUSIVE ones of a semaphore. */
const together = (gs: readonly Grant[]) =>
  gs.every((g) => g.shared) || gs.every((g) => !g.shared && g.limit > 1);

/**
 * Tokens are unique per mutex (grants one entry made together share its index) and increase
 * with real-time order of grants.
 */
export function checkTokens(kh: KeyHistory, v: Violations): void {
  const known = kh.grants.filter((g) => g.token !== null);
  for (const [token, gs] of groupBy(known, (g) => String(g.token))) {
    if (gs.length > 1 && !together(gs))
      v.add(
        'fencing-token',
        kh.key,
        `token ${token} granted to ${gs.map(name).join(' and ')}`,
        gs.map((g) => g.acquire.id),
      );
  }
  const byDone = [...known].sort((a, b) => a.by - b.by);
  const byStart = [...known].sort((a, b) => a.acquire.invoke - b.acquire.invoke);
  let i = 0;
  let max: Grant | undefined;
  for (const g of byStart) {
    for (let d = byDone[i]; d !== undefined && d.by < g.acquire.invoke; d = byDone[++i]) {
      if (!max || d.token! > max.token!) max = d;
    }
    if (max && g.token! <= max.token!) {
      v.add(
        'fencing-token',
        kh.key,
        `${name(g)} was requested at ${t(g.acquire.invoke)}, after ${name(max)} had been granted by ${t(max.by)}, yet got a smaller token`,
        [max.acquire.id, g.acquire.id],
      );
    }
  }
}

/**
 * The fenced store: it never accepted a token below one it had accepted; a write made while its
 * writer was allowed to hold the lock was accepted (else two holders overlapped); a writer that
 * wrote outside its own validity is a client bug; a paused client's late write was refused once
 * a newer holder had written.
 */
export function checkFencing(h: History, keys: Map<string, KeyHistory>, v: Violations): number {
  for (const [key, ws] of groupBy(h.writes, (w) => w.key)) {
    const kh = keys.get(key);
    let maxAccepted: StoreWrite | undefined;
    for (const w of ws) {
      if (w.accepted && maxAccepted && w.token < maxAccepted.token)
        v.add(
          'fenced-store',
          key,
          `store accepted token ${w.token} at ${t(w.at)} after ${maxAccepted.token}`,
        );
      if (w.accepted && (!maxAccepted || w.token > maxAccepted.token)) maxAccepted = w;
      const g = kh?.byToken.get(w.token);
      if (!g) {
        v.add(
          'fenced-store',
          key,
          `write with token ${w.token} by ${w.client}, which no grant had`,
        );
        continue;
      }
      const valid = covers(g.validity, w.at);
      // Only a lone writer's refusal proves an overlap: holders that share a lock write with
      // tokens in any order.
      if (valid && !w.accepted && !g.shared && g.limit <= 1) {
        v.add(
          'mutual-exclusion',
          key,
          `${name(g)} wrote at ${t(w.at)} while allowed to hold the lock, but the store had already accepted token ${maxAccepted?.token} from another holder`,
          [g.acquire.id],
        );
      }
      if (!valid && !w.late) {
        v.add(
          'client-validity',
          key,
          `${name(g)} wrote at ${t(w.at)}, outside its validity ${JSON.stringify(g.validity)}`,
          [g.acquire.id],
        );
      }
    }
  }
  for (const p of h.pauses) {
    if (p.lateWrite?.accepted && p.probeToken !== null)
      v.add(
        'fenced-store',
        p.key,
        `the paused client's late write (token ${p.token}) was accepted after token ${p.probeToken} had been written`,
      );
  }
  return h.writes.length;
}

/** Index from time to the grants whose validity intervals start before it. */
function validityIndex(kh: KeyHistory): { from: number; to: number; g: Grant }[] {
  return kh.grants
    .filter((g) => g.acked)
    .flatMap((g) => g.validity.map((i) => ({ ...i, g })))
    .sort((a, b) => a.from - b.from);
}

/**
 * The last intervals starting at or before `at`: enough for every holder of a shared lock or
 * semaphore at once (a mutex's do not overlap unless mutual exclusion is violated).
 */
function around(idx: { from: number; to: number; g: Grant }[], at: number, n = 8) {
  let lo = 0;
  let hi = idx.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (idx[mid]!.from <= at)
      lo = mid + 1; // lo <= mid < hi <= length
    else hi = mid;
  }
  return idx.slice(Math.max(0, lo - n), lo);
}

/**
 * Nothing acknowledged is lost: a grant is visible to a linearizable read while its holder may
 * act on it; a read never shows a holder after its lease was certainly gone (an acknowledged
 * release is never undone); a lease never disappears before its floor (last confirmed send +
 * TTL) unless its own release may have been sent; a holder shown by a read was granted.
 */
export function checkDurability(kh: KeyHistory, v: Violations): DurabilityStats {
  const lag: LagStats = { reads: 0, maxMs: 0 };
  const stats: DurabilityStats = { reads: 0, leaseEnds: 0, afterNotFound: lag };
  const idx = validityIndex(kh);
  for (const d of kh.ops) {
    if (d.kind !== 'describe' || d.outcome !== 'ok') continue;
    stats.reads++;
    const seen = holdersSeen(d);
    const owners = new Set(seen.map((s) => s.owner));
    const shown = seen.map((s) => `${s.owner} (token ${s.token})`).join(', ') || 'no holder';
    for (const i of around(idx, d.invoke)) {
      if (i.from <= d.invoke && d.complete! < i.to && !owners.has(i.g.owner))
        v.add(
          'acknowledged-grant-visible',
          kh.key,
          `read ${d.id} [${t(d.invoke)}, ${t(d.complete!)}] saw ${shown} while ${name(i.g)} was allowed to hold until ${t(i.to)}`,
          [i.g.acquire.id, d.id],
        );
    }
    for (const s of seen) checkSeen(kh, d, s, lag, v);
  }
  for (const g of kh.grants) {
    const [at, why] = g.lostBy < g.goneBy ? [g.lostBy, g.lostWhy] : [g.goneBy, g.goneWhy];
    if (g.acked && Number.isFinite(at)) stats.leaseEnds++;
    if (g.acked && at < g.floor && g.releaseFrom > at)
      v.add(
        'lease-kept-for-ttl',
        kh.key,
        `${name(g)}: lease gone by ${t(at)} (${why}) before its floor ${t(g.floor)}, with no release sent`,
        [g.acquire.id],
      );
  }
  for (const e of kh.events) {
    if (e.kind !== 'expired' && e.kind !== 'released') continue;
    const g = kh.byOwner.get(e.owner);
    if (!g) continue;
    if (e.kind === 'expired' && e.at < g.floor)
      v.add(
        'lease-kept-for-ttl',
        kh.key,
        `${e.stream} reported ${name(g)} expired at ${t(e.at)}, before its floor ${t(g.floor)}`,
        [g.acquire.id],
      );
    if (e.kind === 'released' && e.at < g.releaseFrom)
      v.add(
        'no-phantom-release',
        kh.key,
        `${e.stream} reported ${name(g)} released at ${t(e.at)}, before any release was sent`,
        [g.acquire.id],
      );
  }
  return stats;
}

/** One holder a read showed: granted, with its token, and not after its lease was gone. */
function checkSeen(kh: KeyHistory, d: Op, s: SeenHolder, lag: LagStats, v: Violations): void {
  const g = kh.byOwner.get(s.owner);
  if (!g) {
    v.add(
      'no-phantom-holder',
      kh.key,
      `read ${d.id} saw holder ${s.owner} (token ${s.token}), never granted`,
      [d.id],
    );
    return;
  }
  if (g.acquire.outcome === 'fail')
    v.add(
      'no-phantom-holder',
      kh.key,
      `read ${d.id} saw ${name(g)}, whose acquire failed definitely`,
      [g.acquire.id, d.id],
    );
  if (g.token !== null && s.token !== g.token)
    v.add(
      'fencing-token',
      kh.key,
      `read ${d.id} saw ${g.owner} with token ${s.token}, granted ${g.token}`,
      [g.acquire.id, d.id],
    );
  if (d.invoke > g.lostBy) {
    lag.reads++;
    lag.maxMs = Math.max(lag.maxMs, Math.round(d.invoke - g.lostBy));
  }
  if (d.invoke > g.goneBy)
    v.add(
      'acknowledged-release-kept',
      kh.key,
      `read ${d.id} at ${t(d.invoke)} saw ${name(g)}, certainly gone by ${t(g.goneBy)}: ${g.goneWhy}`,
      [g.acquire.id, d.id],
    );
}

/** What the durability checks looked at: successful reads, and leases whose end was seen. */
export interface DurabilityStats {
  reads: number;
  leaseEnds: number;
  afterNotFound: LagStats;
}

/**
 * Reads that still saw a holder after its renewal was answered NOT_FOUND: allowed (the expiry
 * is decided, not yet committed) but worth knowing how long that lasts.
 */
export interface LagStats {
  reads: number;
  maxMs: number;
}

/** Ops of a mutex that give information, for the report's figures. */
export function countOps(ops: Op[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of ops) {
    const k = `${o.kind}:${o.outcome}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
