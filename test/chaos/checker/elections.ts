// Observe streams: never an older leader after a newer one; every reported leader was elected
// (its candidate campaigned and got that token); and, on the one-candidate election, "no leader"
// between any two different leaders. A raw stream is one gRPC call, so the server's own
// promise applies; an SDK stream spans re-subscriptions on other nodes and is reported apart.
import type { History, StreamEvent } from '../history.js';
import { groupBy, type KeyHistory } from './grants.js';
import type { Violations } from './safety.js';

export interface ObserveStats {
  streams: number;
  leaderReports: number;
  noLeaderReports: number;
}

export function checkObserve(
  h: History,
  keys: Map<string, KeyHistory>,
  soloKey: string,
  v: Violations,
): ObserveStats {
  const stats: ObserveStats = { streams: 0, leaderReports: 0, noLeaderReports: 0 };
  const observed = h.streams.filter((e) => e.kind === 'leader' || e.kind === 'no-leader');
  for (const [stream, events] of groupBy(observed, (e) => e.stream)) {
    stats.streams++;
    const sdk = stream.startsWith('sdk');
    let newest: StreamEvent | undefined;
    let previous: StreamEvent | undefined;
    let noLeaderSince = true;
    for (const e of events) {
      if (e.kind === 'no-leader') {
        stats.noLeaderReports++;
        noLeaderSince = true;
        continue;
      }
      stats.leaderReports++;
      const g = keys.get(e.key)?.byOwner.get(e.owner);
      if (!g) {
        v.add(
          'observe-real-leader',
          e.key,
          `${stream} reported ${e.owner} (token ${e.token}), who never campaigned`,
        );
      } else if (g.token !== null && g.token !== e.token) {
        v.add(
          'observe-real-leader',
          e.key,
          `${stream} reported ${e.owner} with token ${e.token}, elected with ${g.token}`,
          [g.acquire.id],
        );
      }
      if (newest && e.token < newest.token) {
        v.add(
          sdk ? 'observe-order-sdk' : 'observe-order',
          e.key,
          `${stream} reported ${e.owner} (token ${e.token}) at ${e.at.toFixed(1)} after ${newest.owner} (token ${newest.token}) at ${newest.at.toFixed(1)}`,
        );
      }
      if (!sdk && e.key === soloKey && previous && previous.token !== e.token && !noLeaderSince) {
        v.add(
          'observe-no-leader',
          e.key,
          `${stream} went from ${previous.owner} (token ${previous.token}) to ${e.owner} (token ${e.token}) at ${e.at.toFixed(1)} without reporting no leader in between`,
        );
      }
      if (!newest || e.token > newest.token) newest = e;
      previous = e;
      noLeaderSince = false;
    }
  }
  return stats;
}

export interface WatchStats {
  streams: number;
  /** ACQUIRED events checked for order (RELEASED and EXPIRED ones by the durability checks). */
  events: number;
}

/**
 * Per stream, Watch ACQUIRED tokens increase per lock (log order); on a shared lock or a
 * semaphore, grants one entry made together come with the same token.
 */
export function checkWatch(h: History, plain: (key: string) => boolean, v: Violations): WatchStats {
  const acquired = h.streams.filter((e) => e.kind === 'acquired');
  let streams = 0;
  for (const [stream, events] of groupBy(acquired, (e) => e.stream)) {
    streams++;
    const last = new Map<string, number>();
    for (const e of events) {
      const prev = last.get(e.key) ?? 0;
      if (e.token < prev || (e.token === prev && plain(e.key)))
        v.add('watch-order', e.key, `${stream} reported token ${e.token} acquired after ${prev}`);
      last.set(e.key, Math.max(prev, e.token));
    }
  }
  return { streams, events: acquired.length };
}
