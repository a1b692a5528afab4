import type { Entry, SnapshotMeta } from './types.js';

/**
 * The in-memory Raft log: entries after the compaction point, plus commit/apply/stable marks.
 * The whole uncompacted log lives in memory (the driver compacts it behind snapshots), which
 * keeps the core synchronous and deterministic; storage is written, and read only at start-up.
 */
export class RaftLog {
  /** Index and term of the last entry compacted away (0/0 for a fresh log). */
  private offset: SnapshotMeta;
  /** entries[i].index === offset.index + 1 + i */
  private entries: Entry[];
  committed: number;
  applied: number;
  /** Last index known to be durable on this node's storage. */
  stable: number;

  constructor(offset: SnapshotMeta, entries: Entry[], committed: number) {
    this.offset = offset;
    this.entries = entries;
    this.stable = this.lastIndex();
    this.applied = offset.index;
    // A snapshot is committed; a commit index past the log would mean lost entries.
    this.committed = Math.max(committed, offset.index);
    if (this.committed > this.lastIndex())
      throw new Error(`raft invariant: commit ${committed} beyond last ${this.lastIndex()}`);
  }

  firstIndex(): number {
    return this.offset.index + 1;
  }

  lastIndex(): number {
    return this.offset.index + this.entries.length;
  }

  compactedIndex(): number {
    return this.offset.index;
  }

  lastTerm(): number {
    return this.entries.at(-1)?.term ?? this.offset.term;
  }

  /** Term of entry i, or undefined when it is compacted away or beyond the log. */
  term(i: number): number | undefined {
    if (i === this.offset.index) return this.offset.term;
    return this.entries[i - this.offset.index - 1]?.term;
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /** Voting rule of paper 5.4.1: is a log ending at (index, term) at least as up-to-date? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entry i, which must be in memory: the caller has checked the bounds. */
  entry(i: number): Entry {
    const e = this.entries[i - this.offset.index - 1];
    if (e === undefined) {
      throw new Error(
        `raft invariant: entry ${i} outside the log (${this.offset.index}, ${this.lastIndex()}]`,
      );
    }
    return e;
  }

  /** Entries [lo, hi) that are in memory; the caller checks bounds. */
  slice(lo: number, hi: number): Entry[] {
    const base = this.offset.index + 1;
    return this.entries.slice(lo - base, hi - base);
  }

  /** Entries from lo within a byte budget; always at least one entry when any exist. */
  entriesFrom(lo: number, maxBytes: number): Entry[] {
    const last = this.lastIndex();
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= last; i++) {
      const e = this.entry(i);
      bytes += e.data.byteLength + 24;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  unstableEntries(): Entry[] {
    return this.slice(this.stable + 1, this.lastIndex() + 1);
  }

  /** Committed entries not yet applied, at most max of them. */
  nextCommitted(max: number): Entry[] {
    const hi = Math.min(this.committed, this.applied + max);
    return hi > this.applied ? this.slice(this.applied + 1, hi + 1) : [];
  }

  hasNextCommitted(): boolean {
    return this.committed > this.applied;
  }

  /** Appends or overwrites from ents[0].index, dropping any suffix it conflicts with. */
  truncateAndAppend(ents: readonly Entry[]): void {
    const after = ents[0]?.index;
    if (after === undefined) return;
    if (after <= this.committed) {
      throw new Error(
        `raft invariant: truncating committed entry ${after} (commit ${this.committed})`,
      );
    }
    if (after <= this.lastIndex()) {
      this.entries.length = after - this.offset.index - 1;
      if (this.stable >= after) this.stable = after - 1;
    } else if (after !== this.lastIndex() + 1) {
      throw new Error(`raft invariant: gap appending ${after} after ${this.lastIndex()}`);
    }
    for (const e of ents) this.entries.push(e);
  }

  /**
   * Follower side of AppendEntries (Figure 2, receiver rules 2-5). Returns the index of the
   * last new entry, or null when the consistency check fails.
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    commit: number,
    ents: readonly Entry[],
  ): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + ents.length;
    // Skip entries we already hold: a duplicate or reordered AppendEntries must not truncate.
    const k = ents.findIndex((e) => !this.matchTerm(e.index, e.term));
    if (k >= 0) this.truncateAndAppend(k === 0 ? ents : ents.slice(k));
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** First index of the run of entries with the same term as entry i (for reject hints). */
  firstIndexOfTerm(i: number): number {
    const t = this.term(i);
    let j = i;
    while (j - 1 > this.offset.index && this.term(j - 1) === t) j--;
    return j;
  }

  /** Last index <= from whose term is term, or 0 if the log (in memory) has none. */
  lastIndexOfTerm(term: number, from: number): number {
    for (let i = Math.min(from, this.lastIndex()); i > this.offset.index; i--) {
      const t = this.entry(i).term;
      if (t === term) return i;
      if (t < term) return 0;
    }
    return 0;
  }

  commitTo(i: number): boolean {
    if (i <= this.committed) return false;
    if (i > this.lastIndex())
      throw new Error(`raft invariant: commit ${i} beyond last ${this.lastIndex()}`);
    this.committed = i;
    return true;
  }

  appliedTo(i: number): void {
    if (i > this.committed || i < this.applied) {
      throw new Error(`raft invariant: applied ${i} outside [${this.applied}, ${this.committed}]`);
    }
    this.applied = i;
  }

  /** Marks entries up to (i, term) durable, unless they were overwritten meanwhile. */
  stableTo(i: number, term: number): void {
    if (i > this.stable && this.matchTerm(i, term)) this.stable = i;
  }

  /** Replaces the whole log by a snapshot received from the leader. */
  restore(meta: SnapshotMeta): void {
    this.offset = meta;
    this.entries = [];
    this.committed = meta.index;
    this.applied = meta.index;
    this.stable = meta.index;
  }

  /** Drops entries up to i (which must be applied and durable). */
  compact(i: number): void {
    if (i <= this.offset.index) return;
    if (i > this.applied || i > this.stable) {
      throw new Error(
        `raft invariant: compacting ${i} beyond applied ${this.applied}/stable ${this.stable}`,
      );
    }
    const term = this.term(i)!;
    this.entries = this.entries.slice(i - this.offset.index);
    this.offset = { index: i, term };
  }
}
