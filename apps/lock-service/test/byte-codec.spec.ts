// The snapshot's writer and reader: a string is its byte length as a varint, then its bytes,
// whichever path wrote it (the ASCII one for short ids and names, the general one otherwise).
import fc from 'fast-check';
import { ChunkReader, ChunkWriter } from '../src/domain/byte-codec.js';

/** The bytes the general path writes: a varint of the byte length, then the encoded string. */
function expected(s: string, encoding: 'utf8' | 'latin1'): Buffer {
  const body = Buffer.from(s, encoding);
  const len: number[] = [];
  let n = body.length;
  while (n >= 0x80) {
    len.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  len.push(n);
  return Buffer.concat([Buffer.from(len), body]);
}

function written(strings: readonly string[], encoding: 'utf8' | 'latin1', chunk: number): Buffer {
  const w = new ChunkWriter(chunk);
  const out: Buffer[] = [];
  for (const s of strings) {
    w.str(s, encoding);
    out.push(...w.take());
  }
  out.push(...w.flush());
  return Buffer.concat(out);
}

describe('ChunkWriter.str', () => {
  const edges = [
    '',
    'a',
    'x'.repeat(127),
    'x'.repeat(128),
    'x'.repeat(300),
    'lat\u00e9',
    '日本',
    'é',
  ];

  it.each(['utf8', 'latin1'] as const)('writes what the general path would, in %s', (enc) => {
    const strings = enc === 'latin1' ? edges.filter((s) => !/[^\u0000-\u00ff]/.test(s)) : edges;
    expect(written(strings, enc, 64)).toEqual(Buffer.concat(strings.map((s) => expected(s, enc))));
  });

  it('writes any strings, across chunk ends, as the reader reads them back', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(fc.string({ maxLength: 140 }), fc.string({ unit: 'grapheme', maxLength: 40 })),
        ),
        fc.integer({ min: 16, max: 200 }),
        (strings, chunk) => {
          const bytes = written(strings, 'utf8', chunk);
          expect(bytes).toEqual(Buffer.concat(strings.map((s) => expected(s, 'utf8'))));
          const r = new ChunkReader();
          r.push(bytes);
          for (const s of strings) expect(r.str()).toBe(s);
          expect(r.remaining).toBe(0);
        },
      ),
    );
  });
});
