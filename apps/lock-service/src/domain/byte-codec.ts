// Little binary writer and reader for the snapshot format: varints, float64s and strings.

/** Appends values into chunks of about chunkBytes; take() hands out the full ones. */
export class ChunkWriter {
  private buf: Buffer;
  private at = 0;
  private readonly done: Buffer[] = [];

  constructor(private readonly chunkBytes: number) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    if (this.at > 0) this.done.push(this.buf.subarray(0, this.at));
    this.buf = Buffer.allocUnsafe(Math.max(this.chunkBytes, n));
    this.at = 0;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.at++] = v;
  }

  varint(v: number): void {
    this.room(10);
    while (v >= 0x80) {
      this.buf[this.at++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.at++] = v;
  }

  f64(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.at);
    this.at += 8;
  }

  str(s: string, encoding: 'utf8' | 'latin1' = 'utf8'): void {
    if (s.length < 0x80 && this.ascii(s)) return;
    const n = Buffer.byteLength(s, encoding);
    this.varint(n);
    this.room(n);
    this.buf.write(s, this.at, n, encoding);
    this.at += n;
  }

  /**
   * Writes a short string that is all ASCII (the same bytes in UTF-8 and Latin-1) a character at
   * a time, with its length as one byte: most of a snapshot's strings are ids and names, and the
   * two native calls of the general path (byteLength, write) cost more than the copy. False,
   * with nothing written, for any other string.
   */
  private ascii(s: string): boolean {
    const n = s.length;
    this.room(n + 1);
    const buf = this.buf;
    const at = this.at + 1;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return false;
      buf[at + i] = c;
    }
    buf[this.at] = n;
    this.at = at + n;
    return true;
  }

  /** Full chunks written so far (the current one stays until it fills, or flush()). */
  take(): Buffer[] {
    return this.done.splice(0);
  }

  flush(): Buffer[] {
    if (this.at > 0) {
      this.done.push(this.buf.subarray(0, this.at));
      this.buf = Buffer.allocUnsafe(this.chunkBytes);
      this.at = 0;
    }
    return this.take();
  }
}

/** Thrown when a record continues in a chunk not received yet. */
export class NeedMore extends Error {}

/** Reads values from bytes that arrive in chunks; a record cut by a chunk end is re-read whole. */
export class ChunkReader {
  private buf = Buffer.alloc(0);
  private at = 0;
  /** Where the record being read began: a NeedMore rewinds there. */
  private mark = 0;

  push(chunk: Uint8Array): void {
    const rest = this.buf.subarray(this.mark);
    this.buf = rest.length === 0 ? Buffer.from(chunk) : Buffer.concat([rest, chunk]);
    this.mark = 0;
    this.at = 0;
  }

  /** Starts a record: if it is cut short, reading resumes here once more bytes came. */
  begin(): void {
    this.mark = this.at;
  }

  rewind(): void {
    this.at = this.mark;
  }

  get remaining(): number {
    return this.buf.length - this.at;
  }

  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new NeedMore();
  }

  u8(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }

  varint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
    }
    throw new Error('snapshot: varint too long');
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.at);
    this.at += 8;
    return v;
  }

  str(encoding: BufferEncoding = 'utf8'): string {
    const n = this.varint();
    this.need(n);
    const s = this.buf.toString(encoding, this.at, this.at + n);
    this.at += n;
    return s;
  }
}

/** Reads values from one buffer: the fast path for a log entry (a command), no chunk seams. */
export class BytesReader {
  private at = 0;
  private readonly b: Buffer;

  constructor(bytes: Uint8Array) {
    this.b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u8(): number {
    if (this.at >= this.b.length) throw new Error('truncated');
    return this.b[this.at++]!;
  }

  varint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
    }
    throw new Error('varint too long');
  }

  f64(): number {
    const v = this.b.readDoubleLE(this.at);
    this.at += 8;
    return v;
  }

  str(): string {
    const n = this.varint();
    const end = this.at + n;
    if (end > this.b.length) throw new Error('truncated');
    const s = this.b.toString('utf8', this.at, end);
    this.at = end;
    return s;
  }
}
