// The proto3 JSON mapping of the API's messages (lowerCamelCase names, 64-bit integers as
// strings, enums by name), done by @bufbuild/protobuf from the descriptors protoc generates
// (scripts/gen-proto.sh), and the conversion to and from the shapes the LockApi takes (ts-proto's:
// snake_case names as on the wire, uint64 as number).
import {
  create,
  createFileRegistry,
  type DescField,
  type DescMessage,
  fromBinary,
  fromJson,
  type JsonValue,
  ScalarType,
  toJson,
} from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { FILE_DESCRIPTOR_SET_BASE64 } from '../gen/quorumlock/v1/descriptors.js';

const registry = createFileRegistry(
  fromBinary(FileDescriptorSetSchema, Buffer.from(FILE_DESCRIPTOR_SET_BASE64, 'base64')),
);

const LONG = new Set([
  ScalarType.INT64,
  ScalarType.UINT64,
  ScalarType.SINT64,
  ScalarType.FIXED64,
  ScalarType.SFIXED64,
]);

/** Params that do not decode as the method's request message; names the field when it can. */
export class ParamsError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ParamsError';
  }
}

export function messageType(typeName: string): DescMessage {
  const desc = registry.getMessage(`quorumlock.v1.${typeName}`);
  if (desc === undefined) throw new Error(`no message quorumlock.v1.${typeName} in the API`);
  return desc;
}

type Plain = Record<string, unknown>;

const isLong = (f: DescField) =>
  f.fieldKind !== 'message' && f.scalar !== undefined && LONG.has(f.scalar);

/** A protobuf-es message as the LockApi's request shape: proto field names, numbers. */
function toPlain(desc: DescMessage, msg: Plain): Plain {
  const out: Plain = {};
  for (const f of desc.fields) {
    const v = msg[f.localName];
    if (f.fieldKind === 'message' && v !== undefined) out[f.name] = toPlain(f.message, v as Plain);
    else if (f.fieldKind === 'list' && f.listKind === 'message')
      out[f.name] = (v as Plain[]).map((m) => toPlain(f.message, m));
    else if (typeof v === 'bigint') {
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
        throw new ParamsError(`${f.jsonName}: ${v} is out of range`, f.jsonName);
      out[f.name] = Number(v);
    } else out[f.name] = v;
  }
  return out;
}

/** The LockApi's response shape as a protobuf-es message init: local names, 64-bit as bigint. */
function fromPlain(desc: DescMessage, plain: Plain): Plain {
  const out: Plain = {};
  for (const f of desc.fields) {
    const v = plain[f.name];
    if (v === undefined || v === null) continue;
    if (f.fieldKind === 'message') out[f.localName] = fromPlain(f.message, v as Plain);
    else if (f.fieldKind === 'list' && f.listKind === 'message')
      out[f.localName] = (v as Plain[]).map((m) => fromPlain(f.message, m));
    else if (isLong(f) && typeof v === 'number') out[f.localName] = BigInt(Math.trunc(v));
    else out[f.localName] = v;
  }
  return out;
}

const DECODE_FIELD = /^cannot decode field [\w.]+\.(\w+) from JSON: (.*)$/s;
const UNKNOWN_KEY = /^cannot decode message [\w.]+ from JSON: key "(.*)" is unknown$/s;

/**
 * JSON-RPC params (a by-name object, or absent) as the request the LockApi takes. Unknown keys
 * and values of the wrong type are refused with the field named (its JSON name); both the JSON
 * name and the proto name are accepted, as the mapping requires.
 */
export function paramsToRequest(typeName: string, params: unknown): Plain {
  const desc = messageType(typeName);
  if (
    params !== undefined &&
    (typeof params !== 'object' || params === null || Array.isArray(params))
  )
    throw new ParamsError('params must be an object of named fields');
  let msg: Plain;
  try {
    msg = fromJson(desc, (params ?? {}) as JsonValue);
  } catch (e) {
    const text = (e as Error).message;
    const bad = DECODE_FIELD.exec(text);
    if (bad) {
      const field = desc.fields.find((f) => f.name === bad[1])?.jsonName ?? bad[1]!;
      throw new ParamsError(`${field}: ${bad[2]}`, field);
    }
    const unknown = UNKNOWN_KEY.exec(text);
    if (unknown) throw new ParamsError(`${unknown[1]}: no such field`, unknown[1]);
    throw new ParamsError(text);
  }
  return toPlain(desc, msg);
}

/** A LockApi response (or stream item) in the proto3 JSON mapping, every field present. */
export function responseToJson(typeName: string, response: unknown): JsonValue {
  const desc = messageType(typeName);
  const msg = create(desc, fromPlain(desc, (response ?? {}) as Plain) as never);
  return toJson(desc, msg, { alwaysEmitImplicit: true });
}

/** A proto field name in the JSON mapping: `ttl_ms` is `ttlMs`. */
export function jsonName(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
