// Restore: a snapshot's records into a new state as they are read, a batch per chunk, with what
// the snapshot does not store derived again (which locks each lease holds and waits for, the
// waiting index, the expiry and lock-delay queues). A chunk's batch is installed before the
// next chunk is read (the node gives the event loop a turn between chunks), so a million leases
// never stall a node for the seconds one pass over all of them takes.
import { holdersOf } from './lock-kinds.js';
import { LockState } from './lock-state.js';
import { requestKey, stateKey } from './model.js';
import { type Restored, SnapshotParser } from './snapshot-format.js';

/** Records of one chunk, in the order a snapshot holds them: leases, mutexes, retry records. */
export type RestoredBatch = Pick<Restored, 'leases' | 'mutexes' | 'retries'>;

/**
 * Builds a state from a snapshot's records; refuses a record found twice. The state is the
 * caller's once finish() returns, and not to be read before: it is half built until then.
 */
export class Restorer {
  readonly state = new LockState();
  // A record twice means a broken snapshot (or writer): refuse it rather than guess.
  private readonly twice = (what: string, id: string) => new Error(`snapshot: ${what} ${id} twice`);

  /** maxToken: the highest fencing token the replica granted: tokens only grow. */
  constructor(maxToken = 0) {
    this.state.tally.maxToken = maxToken;
  }

  add(b: RestoredBatch): void {
    const s = this.state;
    const dup = s.loadLeases(b.leases);
    if (dup !== undefined) throw this.twice('lease', dup);
    for (const m of b.mutexes) {
      const key = stateKey(m.kind, m.name);
      if (!s.loadMutex(key, m)) throw this.twice(m.kind, m.name);
      // A snapshot holds every lease before any mutex, so each holder's lease is here.
      for (const holder of holdersOf(m)) s.addLeaseKey(holder.lease_id, 'holds', key);
      for (const w of m.queue) {
        s.addLeaseKey(w.lease_id, 'waits', key);
        if (w.request_id) s.waiting.set(requestKey(w.request_id), key);
      }
    }
    for (const rec of b.retries) {
      // Version 1-2 snapshots kept request ids, not their hashes.
      const raw = rec.key.startsWith('\u0000raw:');
      const key = raw ? requestKey(rec.key.slice(5)) : rec.key;
      if (!s.retries.load(raw ? { ...rec, key } : rec))
        throw this.twice('retry record', JSON.stringify(key));
    }
  }

  /** The header's fields (read with the first chunk), and the retry records' age order. */
  finish(header: Pick<Restored, 'clock' | 'retrySeq' | 'members'>): LockState {
    const s = this.state;
    s.clock = header.clock;
    s.retrySeq = header.retrySeq;
    for (const [id, address] of header.members) s.members.set(id, address);
    // In the order they were recorded (a snapshot's is its rows'): their age order decides
    // which go first, alike on every replica.
    s.retries.linkBySeq();
    return s;
  }
}

/** A new state holding a snapshot's records, read chunk by chunk. */
export async function restoreState(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  maxToken = 0,
): Promise<LockState> {
  const parser = new SnapshotParser();
  const restorer = new Restorer(maxToken);
  for await (const chunk of chunks) {
    parser.push(chunk);
    restorer.add(parser.take());
  }
  const r = parser.finish();
  restorer.add(r); // a version 1-2 snapshot is one JSON document, read at the end
  return restorer.finish(r);
}

/** A new state holding records read already (a backup being rewritten). */
export function stateFrom(r: Restored): LockState {
  const restorer = new Restorer();
  restorer.add(r);
  return restorer.finish(r);
}
