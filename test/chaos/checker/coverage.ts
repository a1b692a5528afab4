// How much each check examined, and the least it must have examined for a pass to mean anything:
// a run whose checks silently looked at nothing (a workload loop that stopped early, a stream
// recorder that never connected, ops recorded under the wrong key) fails instead of passing.
import type { History } from '../history.js';
import type { Violations } from './safety.js';

export const EXAMINED = {
  grants: 'validity intervals of acknowledged grants compared for mutual exclusion',
  kindGrants: 'of those, on shared, semaphore and lock-delay locks (checked by their kind)',
  lockDelays: 'lock-delays checked against the grants after their expiry',
  handOvers: 'grants checked against the belief windows of the grants before them',
  waits: 'of those, grants made after a wait in the queue',
  leaseEnds: 'acknowledged leases whose end (release, expiry, NOT_FOUND) was checked',
  reads: 'linearizable reads (Describe, Leader) checked against the grants',
  storeWrites: 'fenced-store writes checked',
  observeStreams: 'Observe streams checked',
  observeLeaders: 'leaders reported by Observe streams',
  observeNoLeader: '"no leader" reports of Observe streams',
  watchStreams: 'Watch streams checked',
  watchEvents: 'Watch ACQUIRED events checked for order',
  deadLeases: 'abandoned leases whose expiry was followed',
  mutexes: 'locks and elections searched for a linearization',
  faults: 'faults checked for recovery',
  clientPauses: 'client pauses that ended with a late write after a newer holder wrote',
} as const;

export type ExaminedKey = keyof typeof EXAMINED;
export type Examined = Record<ExaminedKey, number>;

/**
 * Floors per minute of run: about a fifth of what 60 s runs with 12-16 clients examine (the
 * smallest workload has 9 clients, and a busy machine or a crash-all halves the op rate).
 */
const PER_MINUTE: Record<Exclude<ExaminedKey, 'clientPauses'>, number> = {
  grants: 40,
  kindGrants: 15,
  lockDelays: 1,
  handOvers: 30,
  waits: 5,
  leaseEnds: 20,
  reads: 150,
  storeWrites: 300,
  observeStreams: 4,
  observeLeaders: 40,
  observeNoLeader: 10,
  watchStreams: 1,
  watchEvents: 40,
  deadLeases: 4,
  mutexes: 8,
  faults: 3,
};

export function emptyExamined(): Examined {
  return Object.fromEntries(Object.keys(EXAMINED).map((k) => [k, 0])) as Examined;
}

/** The floors for a run of this history's length (zero for a hand-made history). */
export function floorsFor(h: History): Examined {
  const minutes = h.meta.durationMs / 60_000;
  const floors = emptyExamined();
  for (const [k, n] of Object.entries(PER_MINUTE))
    floors[k as ExaminedKey] = Math.floor(n * minutes);
  // A pause is inconclusive when the cluster could not grant the probe during it (a fault
  // running at the same time), but not most of the time.
  const pauses = h.faults.filter((f) => f.kind === 'pause-client').length;
  floors.clientPauses = Math.floor(pauses / 3);
  return floors;
}

export function checkFloors(examined: Examined, floors: Examined, v: Violations): void {
  for (const k of Object.keys(EXAMINED) as ExaminedKey[]) {
    if (examined[k] < floors[k])
      v.add(
        'examined-too-little',
        k,
        `${EXAMINED[k]}: ${examined[k]}, below the floor of ${floors[k]} for this run's length`,
      );
  }
}
