// The commands' encoding in the log: binary and versioned. The first byte is the format: 2 for
// this one; a '{' is a JSON entry written by version 1, which still decodes.
//
//   u8 format (2), u8 op, f64 t (the stamp), then per op:
//   acquire      u8 kind, str name, str owner, str value, varint ttl_ms, u8 wait,
//                str request_id, str lease_id, str new_lease_id, varint max_leases,
//                varint max_waiters, varint max_per_lease, varint max_elections
//   cancel_wait  u8 kind, str name, str request_id
//   renew        varint n, str lease_id * n
//   release      u8 kind, str lease_id, str name
//   tick         (nothing)
//   proclaim     str name, str lease_id, str value
//   member       str id, str client_address
import { BytesReader, ChunkWriter } from './byte-codec.js';
import type { Command, MutexKind } from './commands.js';

export const COMMAND_FORMAT = 2;
const OPS = ['acquire', 'cancel_wait', 'renew', 'release', 'tick', 'proclaim', 'member'] as const;

const kind = (k: MutexKind) => (k === 'lock' ? 0 : 1);
const kindOf = (b: number): MutexKind => (b === 0 ? 'lock' : 'election');

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
      break;
    case 'cancel_wait':
      w.u8(kind(c.kind));
      w.str(c.name);
      w.str(c.request_id);
      break;
    case 'renew':
      w.varint(c.lease_ids.length);
      for (const id of c.lease_ids) w.str(id);
      break;
    case 'release':
      w.u8(kind(c.kind));
      w.str(c.lease_id);
      w.str(c.name);
      break;
    case 'tick':
      break;
    case 'proclaim':
      w.str(c.name);
      w.str(c.lease_id);
      w.str(c.value);
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
  if (data[0] !== COMMAND_FORMAT) throw new Error(`command format ${data[0]} is unknown`);
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
      };
      if (c.max_per_lease === undefined) delete (c as { max_per_lease?: number }).max_per_lease;
      if (c.max_elections === undefined) delete (c as { max_elections?: number }).max_elections;
      return c;
    }
    case 'cancel_wait':
      return { op, t, kind: kindOf(r.u8()), name: r.str(), request_id: r.str() };
    case 'renew': {
      const n = r.varint();
      const lease_ids: string[] = [];
      for (let i = 0; i < n; i++) lease_ids.push(r.str());
      return { op, t, lease_ids };
    }
    case 'release':
      return { op, t, kind: kindOf(r.u8()), lease_id: r.str(), name: r.str() };
    case 'tick':
      return { op, t };
    case 'proclaim':
      return { op, t, name: r.str(), lease_id: r.str(), value: r.str() };
    case 'member':
      return { op, t, id: r.str(), client_address: r.str() };
    default:
      throw new Error('command: unknown op');
  }
}
