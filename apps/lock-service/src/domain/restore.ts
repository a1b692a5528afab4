// Restore: the records a snapshot held, into an empty state, with what the snapshot does not
// store derived again (which locks each lease holds and waits for, the waiting index, the
// expiry and lock-delay queues).
import { holdersOf } from './lock-kinds.js';
import type { LockState } from './lock-state.js';
import { requestKey, stateKey } from './model.js';
import type { Restored } from './snapshot-format.js';

/** Replaces everything in `s` with the snapshot's records; refuses a record found twice. */
export function installSnapshot(s: LockState, r: Restored): void {
  s.clear();
  s.clock = r.clock;
  for (const [id, address] of r.members) s.members.set(id, address);
  // A record twice means a broken snapshot (or writer): refuse it rather than guess.
  const twice = (what: string, id: string) => new Error(`snapshot: ${what} ${id} twice`);
  // Until queueLoaded the leases' holds and waits (derived, not stored) are filled in place,
  // rather than each lease replaced once per lock it holds.
  const dup = s.loadLeases(r.leases);
  if (dup !== undefined) throw twice('lease', dup);
  for (const m of r.mutexes) {
    const key = stateKey(m.kind, m.name);
    if (s.mutexes.has(key)) throw twice(m.kind, m.name);
    s.setMutex(key, m);
    for (const holder of holdersOf(m)) s.addLeaseKey(holder.lease_id, 'holds', key);
    for (const w of m.queue) {
      s.addLeaseKey(w.lease_id, 'waits', key);
      if (w.request_id) s.waiting.set(requestKey(w.request_id), key);
    }
  }
  s.queueLoaded();
  s.retrySeq = r.retrySeq;
  // In the order they were recorded (the snapshot's may differ): their age order decides
  // which go first, alike on every replica.
  const retries = r.retries;
  if (!retries.every((rec, i) => i === 0 || retries[i - 1]!.seq < rec.seq)) {
    retries.sort((a, b) => a.seq - b.seq);
  }
  for (const rec of retries) {
    // Version 1-2 snapshots kept request ids, not their hashes.
    const raw = rec.key.startsWith('\u0000raw:');
    const key = raw ? requestKey(rec.key.slice(5)) : rec.key;
    if (s.retries.has(key)) throw twice('retry record', JSON.stringify(key));
    s.setRetry(raw ? { ...rec, key } : rec);
  }
}
