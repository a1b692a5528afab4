import {
  type Entry,
  EntryType,
  type SnapshotMeta,
  type StateMachine,
} from '../../libs/raft/src/index.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

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

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify([this.appliedIndex, [...this.values]]));
  }

  restore(data: Uint8Array, meta: SnapshotMeta): void {
    const [applied, values] = JSON.parse(decoder.decode(data)) as [number, [number, string][]];
    if (applied !== meta.index)
      throw new Error(`snapshot data is at ${applied}, its metadata says ${meta.index}`);
    this.appliedIndex = applied;
    this.values = new Map(values);
  }
}

export const encodeValue = (v: string): Uint8Array => encoder.encode(v);
