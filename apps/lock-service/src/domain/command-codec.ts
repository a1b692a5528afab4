// The commands' encoding in the log: binary and versioned. The first byte is the format: 4 for
// this one; formats 3 (acquire without its hold kind), 2 (format 3 without callers) and a '{',
// a JSON entry written by version 1, still decode.
//
//   u8 format (4), u8 op, f64 t (the stamp), then per op:
//   acquire      u8 kind, str name, str owner, str value, varint ttl_ms, u8 wait,
//                str request_id, str lease_id, str new_lease_id, varint max_leases,
//                varint max_waiters, varint max_per_lease, varint max_elections, caller,
//                u8 shared, varint limit (0: a mutex), varint delay_ms
//   cancel_wait  u8 kind, str name, str request_id
//   renew        varint callers, (u8 admin, str principal) * callers, varint n,
//                (str lease_id, [varint caller index, when callers > 0]) * n
//   release      u8 kind, str lease_id, str name, caller
//   tick         (nothing)
//   proclaim     str name, str lease_id, str value, caller
//   member       str id, str client_address
//   caller       u8 (0 none, 1 caller, 2 admin caller), [str principal, unless none]
// Format 3 is format 4 with acquire ending at its caller: its grants are EXCLUSIVE mutexes
// without a lock-delay. Format 2 is format 3 without the callers (renew: varint n,
// str lease_id * n).
import { BytesReader, ChunkWriter } from './byte-codec.js';
import type { AcquireCmd, Caller, Command, MutexKind } from './commands.js';

export const COMMAND_FORMAT = 4;
const OPS = ['acquire', 'cancel_wait', 'renew', 'release', 'tick', 'proclaim', 'member'] as const;

const kind = (k: MutexKind) => (k === 'lock' ? 0 : 1);
const kindOf = (b: number): MutexKind => (b === 0 ? 'lock' : 'election');

function writeCaller(w: ChunkWriter, by: Caller | undefined): void {
  if (!by) return w.u8(0);
  w.u8(by.admin ? 2 : 1);
  w.str(by.principal);
}

/** A command's caller, absent when the entry has none (format 2, or written without one). */
function readCaller(r: BytesReader, format: number): { by?: Caller } {
  if (format < 3) return {};
  const b = r.u8();
  return b === 0 ? {} : { by: { principal: r.str(), admin: b === 2 } };
}

/** An acquire's hold kind; each field absent when unused (and in formats before 4). */
function readHoldKind(
  r: BytesReader,
  format: number,
): Pick<AcquireCmd, 'shared' | 'limit' | 'delay_ms'> {
  if (format < 4) return {};
  const [shared, limit, delayMs] = [r.u8() === 1, r.varint(), r.varint()];
  return {
    ...(shared ? { shared: true } : {}),
    ...(limit > 1 ? { limit } : {}),
    ...(delayMs > 0 ? { delay_ms: delayMs } : {}),
  };
}

function writeRenewCallers(w: ChunkWriter, ids: readonly string[], by?: readonly Caller[]): void {
  if (by && by.length !== ids.length) throw new Error('renew: one caller per lease');
  // Renewals batch many clients; most share few identities, written once each.
  const table = new Map<string, number>();
  const index = (by ?? []).map((c) => {
    const key = `${c.admin ? 1 : 0}${c.principal}`;
    let i = table.get(key);
    if (i === undefined) table.set(key, (i = table.size));
    return i;
  });
  w.varint(table.size);
  for (const key of table.keys()) {
    w.u8(key[0] === '1' ? 1 : 0);
    w.str(key.slice(1));
  }
  w.varint(ids.length);
  ids.forEach((id, i) => {
    w.str(id);
    if (table.size > 0) w.varint(index[i]!);
  });
}

export function encodeCommand(c: Command): Uint8Array {
  const w = new ChunkWriter(256);
  w.u8(COMMAND_FORMAT);
  w.u8(OPS.indexOf(c.op));
  w.f64(c.t);
  switch (c.op) {
    case 'acquire':
      w.u8(kind(c.kind));
      w.str(c.name);
      w.str(c.owner);
      w.str(c.value);
      w.varint(c.ttl_ms);
      w.u8(c.wait ? 1 : 0);
      w.str(c.request_id);
      w.str(c.lease_id);
      w.str(c.new_lease_id);
      w.varint(c.max_leases);
      w.varint(c.max_waiters);
      w.varint(c.max_per_lease ?? 0);
      w.varint(c.max_elections ?? 0);
      writeCaller(w, c.by);
      w.u8(c.shared ? 1 : 0);
      w.varint(c.limit ?? 0);
      w.varint(c.delay_ms ?? 0);
      break;
    case 'cancel_wait':
      w.u8(kind(c.kind));
      w.str(c.name);
      w.str(c.request_id);
      break;
    case 'renew':
      writeRenewCallers(w, c.lease_ids, c.by);
      break;
    case 'release':
      w.u8(kind(c.kind));
      w.str(c.lease_id);
      w.str(c.name);
      writeCaller(w, c.by);
      break;
    case 'tick':
      break;
    case 'proclaim':
      w.str(c.name);
      w.str(c.lease_id);
      w.str(c.value);
      writeCaller(w, c.by);
      break;
    case 'member':
      w.str(c.id);
      w.str(c.client_address);
      break;
  }
  const chunks = w.flush();
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

export function decodeCommand(data: Uint8Array): Command {
  if (data[0] === 0x7b)
    return JSON.parse(
      Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString(),
    ) as Command;
  const format = data[0]!;
  if (format !== COMMAND_FORMAT && format !== 3 && format !== 2)
    throw new Error(`command format ${format} is unknown`);
  const r = new BytesReader(data.subarray(1));
  const op = OPS[r.u8()];
  const t = r.f64();
  switch (op) {
    case 'acquire': {
      const c: Command = {
        op,
        t,
        kind: kindOf(r.u8()),
        name: r.str(),
        owner: r.str(),
        value: r.str(),
        ttl_ms: r.varint(),
        wait: r.u8() === 1,
        request_id: r.str(),
        lease_id: r.str(),
        new_lease_id: r.str(),
        max_leases: r.varint(),
        max_waiters: r.varint(),
        max_per_lease: r.varint() || undefined,
        max_elections: r.varint() || undefined,
        ...readCaller(r, format),
        ...readHoldKind(r, format),
      };
      if (c.max_per_lease === undefined) delete (c as { max_per_lease?: number }).max_per_lease;
      if (c.max_elections === undefined) delete (c as { max_elections?: number }).max_elections;
      return c;
    }
    case 'cancel_wait':
      return { op, t, kind: kindOf(r.u8()), name: r.str(), request_id: r.str() };
    case 'renew':
      return { op, t, ...readRenewals(r, format) };
    case 'release':
      return {
        op,
        t,
        kind: kindOf(r.u8()),
        lease_id: r.str(),
        name: r.str(),
        ...readCaller(r, format),
      };
    case 'tick':
      return { op, t };
    case 'proclaim':
      return {
        op,
        t,
        name: r.str(),
        lease_id: r.str(),
        value: r.str(),
        ...readCaller(r, format),
      };
    case 'member':
      return { op, t, id: r.str(), client_address: r.str() };
    default:
      throw new Error('command: unknown op');
  }
}

function readRenewals(r: BytesReader, format: number): { lease_ids: string[]; by?: Caller[] } {
  const callers: Caller[] = [];
  if (format >= 3) {
    const m = r.varint();
    for (let i = 0; i < m; i++) callers.push({ admin: r.u8() === 1, principal: r.str() });
  }
  const n = r.varint();
  const lease_ids: string[] = [];
  const by: Caller[] = [];
  for (let i = 0; i < n; i++) {
    lease_ids.push(r.str());
    if (callers.length === 0) continue;
    const c = callers[r.varint()];
    if (!c) throw new Error('renew: caller index out of range');
    by.push(c);
  }
  return callers.length === 0 ? { lease_ids } : { lease_ids, by };
}
