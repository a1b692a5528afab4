// The lock state's snapshot: a binary, versioned stream of records, written and read in chunks
// so that no state the limits allow needs one big string or buffer.
//
//   header   "QLS" u8(version = 5) f64(clock) f64(retry seq) varint(members) (str id, address)*
//   records  u8(tag) payload, until u8(0):
//     4 identity   str principal: the next identity number, from 1, before the first lease
//                  naming it
//     1 lease      str id, varint ttl_ms, f64 expires_at, str created_for,
//                  varint identity (0: none)
//     2 mutex      u8 kind (0 lock, 1 election), str name, varint limit, u8 delayed,
//                  [f64 delayed_until], varint holders (oldest first),
//                  (str lease, str owner, str value, f64 token, kind)*, varint waiters,
//                  (str lease, str owner, str value, str request_id, kind)*
//     3 retry      str key (latin1: a hash), f64 t, f64 seq, result
//   kind     u8 shared (0, 1), varint delay_ms (0: none)
//   result   u8 status, then: granted: str lease, f64 token, varint ttl; held: str holder;
//            exhausted: str what; ok: u8 released (0 no, 1 yes, 2 unset); limit_mismatch:
//            varint limit; others nothing.
// Leases' holds and waits, the waiting index, the expiry and delay queues are derived on
// restore. Version 4 is version 5 with mutexes of one holder at most and no kinds: a mutex is
// u8 kind, str name, u8 has holder, [str lease, str owner, str value, f64 token],
// varint waiters, (str lease, str owner, str value, str request_id)*. Version 3 is version 4
// without identities (no tag 4, leases end at created_for, no not_owner result). Version 1
// and 2 snapshots were one JSON document; restore reads those too.
import type { ApplyResult, MutexKind } from './commands.js';
import { ChunkReader, ChunkWriter, NeedMore } from './byte-codec.js';
import type { LockState } from './lock-state.js';
import type { RetryRecord } from './retry-table.js';
import { holdersOf } from './lock-kinds.js';
import {
  type HoldKind,
  type Holder,
  type Lease,
  type Mutex,
  NO_WAITERS,
  type Waiter,
} from './model.js';

export const SNAPSHOT_VERSION = 5;
const MAGIC = [0x51, 0x4c, 0x53]; // "QLS"
export const CHUNK_BYTES = 256 * 1024;

const STATUS = [
  'granted',
  'held',
  'queued',
  'lease_not_found',
  'not_holder',
  'exhausted',
  'ok',
  'ignored',
  'not_owner',
  'limit_mismatch',
] as const;

function writeResult(w: ChunkWriter, r: ApplyResult): void {
  w.u8(STATUS.indexOf(r.status));
  if (r.status === 'granted') {
    w.str(r.lease_id);
    w.f64(r.token);
    w.varint(r.ttl_ms);
  } else if (r.status === 'held') w.str(r.holder);
  else if (r.status === 'exhausted') w.str(r.what);
  else if (r.status === 'ok') w.u8(r.released === undefined ? 2 : r.released ? 1 : 0);
  else if (r.status === 'limit_mismatch') w.varint(r.limit);
}

function readResult(r: ChunkReader): ApplyResult {
  const status = STATUS[r.u8()];
  switch (status) {
    case 'granted':
      return { status, lease_id: r.str(), token: r.f64(), ttl_ms: r.varint() };
    case 'held':
      return { status, holder: r.str() };
    case 'exhausted':
      return { status, what: r.str() };
    case 'limit_mismatch':
      return { status, limit: r.varint() };
    case 'ok': {
      const released = r.u8();
      return released === 2 ? { status } : { status, released: released === 1 };
    }
    case 'lease_not_found':
    case 'not_holder':
    case 'not_owner':
    case 'ignored':
      return { status };
    default:
      throw new Error(`snapshot: unknown result status ${String(status)}`);
  }
}

/** Serialises the state as of now, lazily: consume it while entries keep applying. */
export function* writeSnapshot(state: LockState, chunkBytes = CHUNK_BYTES): Generator<Uint8Array> {
  const view = state.beginSnapshot();
  try {
    const w = new ChunkWriter(chunkBytes);
    for (const b of MAGIC) w.u8(b);
    w.u8(SNAPSHOT_VERSION);
    w.f64(view.clock);
    w.f64(view.retrySeq);
    w.varint(view.members.length);
    for (const [id, address] of view.members) {
      w.str(id);
      w.str(address);
    }
    const identities = new Map<string, number>();
    for (const l of view.leases) {
      let identity = 0;
      if (l.principal) {
        identity = identities.get(l.principal) ?? 0;
        if (identity === 0) {
          identities.set(l.principal, (identity = identities.size + 1));
          w.u8(4);
          w.str(l.principal);
        }
      }
      w.u8(1);
      w.str(l.id);
      w.varint(l.ttl_ms);
      w.f64(l.expires_at);
      w.str(l.created_for);
      w.varint(identity);
      yield* w.take();
    }
    for (const m of view.mutexes) {
      w.u8(2);
      w.u8(m.kind === 'lock' ? 0 : 1);
      w.str(m.name);
      w.varint(m.limit ?? 1);
      w.u8(m.delayed_until === undefined ? 0 : 1);
      if (m.delayed_until !== undefined) w.f64(m.delayed_until);
      const holders = holdersOf(m);
      w.varint(holders.length);
      for (const h of holders) {
        w.str(h.lease_id);
        w.str(h.owner);
        w.str(h.value);
        w.f64(h.token);
        writeKind(w, h);
      }
      w.varint(m.queue.length);
      for (const q of m.queue) {
        w.str(q.lease_id);
        w.str(q.owner);
        w.str(q.value);
        w.str(q.request_id);
        writeKind(w, q);
      }
      yield* w.take();
    }
    for (const r of view.retries) {
      w.u8(3);
      w.str(r.key, 'latin1');
      w.f64(r.t);
      w.f64(r.seq);
      writeResult(w, r.r);
      yield* w.take();
    }
    w.u8(0);
    yield* w.flush();
  } finally {
    view.end();
  }
}

function writeKind(w: ChunkWriter, k: HoldKind): void {
  w.u8(k.shared ? 1 : 0);
  w.varint(k.delay_ms ?? 0);
}

/** Reads a hold kind into the record: each field set only when used, not spread into a copy. */
function readKind<T extends HoldKind>(r: ChunkReader, into: { -readonly [K in keyof T]: T[K] }): T {
  if (r.u8() === 1) into.shared = true;
  const delayMs = r.varint();
  if (delayMs > 0) into.delay_ms = delayMs;
  return into;
}

/** What a restore builds: the records, before the state derives its indexes from them. */
export interface Restored {
  clock: number;
  retrySeq: number;
  members: [string, string][];
  leases: Lease[];
  mutexes: Mutex[];
  retries: RetryRecord[];
}

/** Reads a snapshot of any version, chunk by chunk, into records. */
export class SnapshotParser {
  private readonly r = new ChunkReader();
  private readonly out: Restored = {
    clock: 0,
    retrySeq: 0,
    members: [],
    leases: [],
    mutexes: [],
    retries: [],
  };
  private state: 'start' | 'json' | 'header' | 'records' | 'done' = 'start';
  private readonly json: Uint8Array[] = [];
  /** The version being read, and its identities by number (0: none). */
  private readonly format = { version: 0, identities: [''] };

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.state === 'start') this.state = chunk[0] === 0x7b ? 'json' : 'header'; // '{': v1-2
    if (this.state === 'json') {
      this.json.push(chunk);
      return;
    }
    const r = this.r;
    r.push(chunk);
    for (;;) {
      r.begin();
      try {
        if (this.state === 'header') {
          this.format.version = readHeader(r, this.out);
          this.state = 'records';
        } else if (this.state === 'records') {
          if (!readRecord(r, this.out, this.format)) this.state = 'done';
        } else return;
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
        r.rewind();
        return;
      }
    }
  }

  /** The records read since the last take (the header's fields stay for finish). */
  take(): Pick<Restored, 'leases' | 'mutexes' | 'retries'> {
    const o = this.out;
    const batch = { leases: o.leases, mutexes: o.mutexes, retries: o.retries };
    o.leases = [];
    o.mutexes = [];
    o.retries = [];
    return batch;
  }

  finish(): Restored {
    if (this.state === 'json') return fromJson(Buffer.concat(this.json));
    if (this.state !== 'done') throw new Error('snapshot: the stream ended before its last record');
    return this.out;
  }
}

/** Reads a snapshot stream into records, a chunk at a time. */
export async function readSnapshot(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<Restored> {
  const p = new SnapshotParser();
  for await (const chunk of chunks) p.push(chunk);
  return p.finish();
}

/** Reads the header; returns the snapshot's version. */
function readHeader(r: ChunkReader, out: Restored): number {
  for (const b of MAGIC) if (r.u8() !== b) throw new Error('snapshot: not a lock-state snapshot');
  const version = r.u8();
  if (version < 3 || version > SNAPSHOT_VERSION)
    throw new Error(`snapshot: version ${version}; this version reads 1 to ${SNAPSHOT_VERSION}`);
  out.clock = r.f64();
  out.retrySeq = r.f64();
  const n = r.varint();
  for (let i = 0; i < n; i++) out.members.push([r.str(), r.str()]);
  return version;
}

/** Reads one record; false at the end marker. */
function readRecord(
  r: ChunkReader,
  out: Restored,
  format: { version: number; identities: string[] },
): boolean {
  const tag = r.u8();
  switch (tag) {
    case 0:
      return false;
    case 1: {
      const [id, ttl, expiresAt, createdFor] = [r.str(), r.varint(), r.f64(), r.str()];
      const n = format.version >= 4 ? r.varint() : 0;
      const principal = format.identities[n];
      if (principal === undefined) throw new Error(`snapshot: lease ${id} names identity ${n}`);
      out.leases.push(lease(id, ttl, expiresAt, createdFor, principal));
      return true;
    }
    case 4:
      if (format.version < 4) throw new Error(`snapshot: unknown record tag ${tag}`);
      format.identities.push(r.str());
      return true;
    case 2:
      out.mutexes.push(format.version >= 5 ? readMutex(r) : readMutexV4(r));
      return true;
    case 3:
      out.retries.push({
        key: r.str('latin1'),
        t: r.f64(),
        seq: r.f64(),
        r: readResult(r),
      });
      return true;
    default:
      throw new Error(`snapshot: unknown record tag ${tag}`);
  }
}

function readMutex(r: ChunkReader): Mutex {
  const kind: MutexKind = r.u8() === 0 ? 'lock' : 'election';
  const name = r.str();
  const limit = r.varint();
  const delayedUntil = r.u8() === 1 ? r.f64() : undefined;
  const holders: Holder[] = [];
  for (let i = r.varint(); i > 0; i--) {
    const h = { lease_id: r.str(), owner: r.str(), value: r.str(), token: r.f64() };
    holders.push(readKind<Holder>(r, h));
  }
  const n = r.varint();
  const queue: Waiter[] = [];
  for (let i = 0; i < n; i++) {
    const w = { lease_id: r.str(), owner: r.str(), value: r.str(), request_id: r.str() };
    queue.push(readKind<Waiter>(r, w));
  }
  // As lock-kinds.ts remake shapes a record (each optional field absent when unused), built
  // in place: a restore reads a million.
  const m: { -readonly [K in keyof Mutex]: Mutex[K] } = {
    kind,
    name,
    holder: holders[0] ?? null,
    queue: n === 0 ? NO_WAITERS : queue,
  };
  if (holders.length > 1) m.others = holders.slice(1);
  if (limit > 1) m.limit = limit;
  if (delayedUntil !== undefined) m.delayed_until = delayedUntil;
  return m;
}

/** Versions 3 and 4: a mutex of one holder at most, every hold EXCLUSIVE without a delay. */
function readMutexV4(r: ChunkReader): Mutex {
  const kind: MutexKind = r.u8() === 0 ? 'lock' : 'election';
  const name = r.str();
  let holder: Holder | null = null;
  if (r.u8() === 1) holder = { lease_id: r.str(), owner: r.str(), value: r.str(), token: r.f64() };
  const n = r.varint();
  const queue: Waiter[] = [];
  for (let i = 0; i < n; i++)
    queue.push({ lease_id: r.str(), owner: r.str(), value: r.str(), request_id: r.str() });
  return { kind, name, holder, queue: n === 0 ? NO_WAITERS : queue };
}

/** A new lease record; one without an identity has no principal property at all. */
export function lease(
  id: string,
  ttl: number,
  expiresAt: number,
  createdFor: string,
  principal = '',
): Lease {
  if (principal !== '')
    return {
      id,
      ttl_ms: ttl,
      expires_at: expiresAt,
      holds: null,
      waits: null,
      created_for: createdFor,
      principal,
    };
  return {
    id,
    ttl_ms: ttl,
    expires_at: expiresAt,
    holds: null,
    waits: null,
    created_for: createdFor,
  };
}

/** Versions 1 and 2: one JSON document (remaining TTLs in 1, expiries in 2). */
function fromJson(data: Buffer): Restored {
  const s = JSON.parse(data.toString()) as {
    leases: { id: string; ttl_ms: number; expires_at?: number; created_for?: string }[];
    mutexes: { kind: MutexKind; name: string; holder: Holder | null; queue: Waiter[] }[];
    dedup: [string, { t: number; r: ApplyResult }][];
    members: [string, string][];
    clock: number;
  };
  return {
    clock: s.clock,
    retrySeq: s.dedup.length,
    members: s.members,
    // Version 1 knew no expiry: a full TTL from the snapshot's clock is never early.
    leases: s.leases.map((l) =>
      lease(l.id, l.ttl_ms, l.expires_at ?? s.clock + l.ttl_ms, l.created_for ?? ''),
    ),
    mutexes: s.mutexes.map((m) => ({
      kind: m.kind,
      name: m.name,
      holder: m.holder && {
        lease_id: m.holder.lease_id,
        owner: m.holder.owner,
        value: m.holder.value,
        token: m.holder.token,
      },
      queue: m.queue.length === 0 ? NO_WAITERS : m.queue,
    })),
    // Their retry keys were request ids, not hashes: the state hashes them (see restore).
    retries: s.dedup.map(([id, d], i) => ({
      key: `\u0000raw:${id}`,
      t: d.t,
      seq: i + 1,
      r: d.r,
    })),
  };
}
