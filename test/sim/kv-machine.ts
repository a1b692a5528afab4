import {
  type Entry,
  EntryType,
  type SnapshotMeta,
  type StateMachine,
} from '../../libs/raft/src/index.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ENTRIES_PER_CHUNK = 16;

/**
 * The replicated state machine of the Raft simulation: log index -> the client value written
 * there. Applying returns the index, so a client learns where its write landed.
 */
export class KvMachine implements StateMachine<number> {
  values = new Map<number, string>();
  appliedIndex = 0;

  /** Called for every applied entry before it changes the state (checker hooks). */
  constructor(private readonly onApply: (e: Entry, appliedBefore: number) => void = () => {}) {}

  apply(e: Entry): number {
    this.onApply(e, this.appliedIndex);
    this.appliedIndex = e.index;
    if (e.type === EntryType.Normal) this.values.set(e.index, decoder.decode(e.data));
    return e.index;
  }

  /**
   * A point-in-time copy of the entries, serialised lazily: the applied index, then one JSON
   * line per entry, ENTRIES_PER_CHUNK lines to a chunk, so that snapshots span many chunks and
   * the driver interleaves them with its other work.
   */
  *snapshot(): Generator<Uint8Array> {
    const applied = this.appliedIndex;
    const entries = [...this.values];
    yield encoder.encode(`${applied}\n`);
    for (let at = 0; at < entries.length; at += ENTRIES_PER_CHUNK) {
      const lines = entries.slice(at, at + ENTRIES_PER_CHUNK).map((e) => JSON.stringify(e));
      yield encoder.encode(lines.join('\n') + '\n');
    }
  }

  /** Reads the lines as they stream in (a chunk may end mid-line, even mid-character). */
  async restore(chunks: AsyncIterable<Uint8Array>, meta: SnapshotMeta): Promise<void> {
    const decoder = new TextDecoder();
    const values = new Map<number, string>();
    let applied: number | undefined;
    let rest = '';
    const line = (l: string) => {
      if (applied === undefined) applied = Number(l);
      else {
        const [index, value] = JSON.parse(l) as [number, string];
        values.set(index, value);
      }
    };
    for await (const chunk of chunks) {
      const lines = (rest + decoder.decode(chunk, { stream: true })).split('\n');
      rest = lines.pop()!;
      for (const l of lines) line(l);
    }
    if (rest + decoder.decode() !== '') throw new Error('snapshot ends mid-line');
    if (applied !== meta.index)
      throw new Error(`snapshot data is at ${applied}, its metadata says ${meta.index}`);
    this.appliedIndex = applied;
    this.values = values;
  }
}

export const encodeValue = (v: string): Uint8Array => encoder.encode(v);
