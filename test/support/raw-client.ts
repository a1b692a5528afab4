// Sends hand-made bytes as a unary request, for inputs a well-behaved client library cannot
// produce (invalid UTF-8 in a string field, a message that is not protobuf at all).
import * as grpc from '@grpc/grpc-js';

/** Protobuf wire format of string fields: [field number, raw bytes] in order. */
export function encodeStrings(fields: [number, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  for (const [no, bytes] of fields) {
    parts.push(Buffer.from([(no << 3) | 2]), varint(bytes.length), bytes);
  }
  return Buffer.concat(parts);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** Calls /quorumlock.v1.<service>/<method> with `body` as the request's bytes. */
export function rawUnary(
  address: string,
  service: string,
  method: string,
  body: Buffer,
  timeoutMs = 5_000,
): Promise<Buffer> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(
      `/quorumlock.v1.${service}/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (e, r) => (e ? reject(e) : resolve(r!)),
    );
  }).finally(() => client.close());
}
