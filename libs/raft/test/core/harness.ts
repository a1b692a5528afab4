// A tiny synchronous, deterministic in-memory network of RaftCores for paper-level tests, stepped
// message by message. Every Ready is carried out by libs/raft's handleReady, the code RaftNode
// runs, and every write and message is checked against the rules of Figure 2.
import type { CoreConfig } from '../../src/config.js';
import { seededRandom } from '../../src/prng.js';
import { RaftCore } from '../../src/raft.js';
import { handleReady, type Ready, type ReadState } from '../../src/ready.js';
import { snapshotDataOf } from '../../src/snapshot-stream.js';
import type { PersistBatch } from '../../src/storage.js';
import {
  type Entry,
  EntryType,
  type HardState,
  type Message,
  type NodeId,
  Role,
  type SnapshotData,
  type SnapshotMeta,
} from '../../src/types.js';

export type ConfigOverrides = Partial<Omit<CoreConfig, 'id' | 'voters' | 'random'>>;

export const baseConfig = {
  electionTicksMin: 10,
  electionTicksMax: 20,
  heartbeatTicks: 2,
  preVote: true,
  checkQuorum: true,
  maxInflightMsgs: 256,
  maxMsgBytes: 1 << 20,
  maxUncommittedEntries: 10000,
  maxApplyEntries: 1000,
  maxPendingReads: 1000,
  snapshotTimeoutTicks: 100,
  maxPromoteLagEntries: 5,
} as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const enc = (s: string): Uint8Array => encoder.encode(s);
export const dec = (b: Uint8Array): string => decoder.decode(b);

export function ent(index: number, term: number, text = `i${index}t${term}`): Entry {
  return { index, term, type: EntryType.Normal, data: enc(text) };
}

/** Entries 1..n with the given terms: logOfTerms([1, 1, 4]) is [1:t1, 2:t1, 3:t4]. */
export function logOfTerms(terms: readonly number[], from = 1): Entry[] {
  return terms.map((t, k) => ent(from + k, t));
}

export function makeConfig(
  id: NodeId,
  voters: readonly NodeId[],
  seed: number,
  overrides: ConfigOverrides = {},
): CoreConfig {
  return { ...baseConfig, ...overrides, id, voters, random: seededRandom(seed) };
}

export interface Persisted {
  hardState: HardState;
  snapshot: SnapshotMeta | null;
  snapshotData: SnapshotData | null;
  /** Durable entries after the snapshot. */
  entries: Entry[];
}

export interface InitialState {
  hardState?: HardState;
  snapshot?: SnapshotMeta;
  entries?: Entry[];
}

export interface SimNode {
  readonly id: NodeId;
  core: RaftCore;
  up: boolean;
  persisted: Persisted;
  /** Index of the last entry applied to this node's state machine (or restored snapshot). */
  appliedIndex: number;
  /** Every entry this node applied, in order of application, across restarts. */
  applied: Entry[];
  readStates: ReadState[];
  droppedReads: number[];
  readies: Ready[];
  restoredSnapshots: SnapshotMeta[];
  incarnation: number;
}

export interface ClusterOptions {
  seed?: number;
  config?: ConfigOverrides;
  initial?: Record<NodeId, InitialState>;
}

const EMPTY_HARD: HardState = { term: 0, vote: '', commit: 0 };

/** Term of index i in durable storage; 'compacted' below the snapshot, undefined beyond it. */
function persistedTerm(p: Persisted, i: number): number | 'compacted' | undefined {
  const base = p.snapshot?.index ?? 0;
  if (i === base) return p.snapshot?.term ?? 0;
  if (i < base) return 'compacted';
  return p.entries[i - base - 1]?.term;
}

function persistedLastIndex(p: Persisted): number {
  return (p.snapshot?.index ?? 0) + p.entries.length;
}

export class Cluster {
  readonly ids: NodeId[];
  readonly nodes = new Map<NodeId, SimNode>();
  /** Messages emitted but not yet delivered (kept across drains). */
  queue: Message[] = [];
  /** Every message that was delivered (stepped into its receiver). */
  delivered: Message[] = [];
  /** Every message emitted by any core. */
  sent: Message[] = [];
  /** Extra drop rule on top of the partition; return true to drop. */
  dropIf: (m: Message) => boolean = () => false;
  /** Leaders observed, by term (Election Safety). */
  readonly leadersByTerm = new Map<number, Set<NodeId>>();
  /** Votes ever made durable, by node then term, across restarts. */
  readonly votesByTerm = new Map<NodeId, Map<number, NodeId>>();
  /** Term of the entry applied at each index, by any node (State Machine Safety). */
  readonly appliedTerms = new Map<number, number>();
  /** Broken persistence-order rules (a message sent before what it depends on was durable). */
  readonly persistViolations: string[] = [];
  /** Broken safety properties or driver-contract checks. */
  readonly safetyViolations: string[] = [];

  private readonly cuts = new Set<string>();
  /** Bootstrap voters of nodes that joined later (empty: they wait to be added). */
  private readonly joined = new Set<NodeId>();
  private readonly seed: number;
  private readonly overrides: ConfigOverrides;

  constructor(n: number, opts: ClusterOptions = {}) {
    this.ids = Array.from({ length: n }, (_, k) => `n${k + 1}`);
    this.seed = opts.seed ?? 1;
    this.overrides = opts.config ?? {};
    for (const [k, id] of this.ids.entries()) {
      const init = opts.initial?.[id] ?? {};
      const persisted: Persisted = {
        hardState: init.hardState ?? EMPTY_HARD,
        snapshot: init.snapshot ?? null,
        snapshotData: init.snapshot ? snapshotDataOf(enc(`snap@${init.snapshot.index}`)) : null,
        entries: [...(init.entries ?? [])],
      };
      const node: SimNode = {
        id,
        core: this.build(id, persisted, this.seed * 1000 + k),
        up: true,
        persisted,
        appliedIndex: persisted.snapshot?.index ?? 0,
        applied: [],
        readStates: [],
        droppedReads: [],
        readies: [],
        restoredSnapshots: [],
        incarnation: 0,
      };
      this.nodes.set(id, node);
    }
  }

  private build(id: NodeId, p: Persisted, seed: number): RaftCore {
    const voters = this.joined.has(id) ? [] : this.ids.filter((x) => !this.joined.has(x));
    return new RaftCore(makeConfig(id, voters, seed, this.overrides), {
      hardState: p.hardState,
      snapshot: p.snapshot,
      entries: [...p.entries],
    });
  }

  /** Starts a node with no data that waits to be added (quorumlock serve --join). */
  join(id: NodeId): SimNode {
    this.joined.add(id);
    this.ids.push(id);
    const persisted: Persisted = {
      hardState: EMPTY_HARD,
      snapshot: null,
      snapshotData: null,
      entries: [],
    };
    const node: SimNode = {
      id,
      core: this.build(id, persisted, this.seed * 1000 + this.ids.length),
      up: true,
      persisted,
      appliedIndex: 0,
      applied: [],
      readStates: [],
      droppedReads: [],
      readies: [],
      restoredSnapshots: [],
      incarnation: 0,
    };
    this.nodes.set(id, node);
    return node;
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  core(id: NodeId): RaftCore {
    return this.node(id).core;
  }

  /** Every member but `but`, in order; clusters in these tests have at least three. */
  others(but: NodeId): [NodeId, NodeId, ...NodeId[]] {
    const [a, b, ...rest] = this.ids.filter((id) => id !== but);
    if (a === undefined || b === undefined)
      throw new Error(`fewer than two members besides ${but}`);
    return [a, b, ...rest];
  }

  /** A member drawn with r in [0, 1). */
  pick(r: number): NodeId {
    return this.ids[Math.floor(r * this.ids.length)]!;
  }

  upIds(): NodeId[] {
    return this.ids.filter((id) => this.node(id).up);
  }

  /** Up nodes that currently believe they lead. */
  leaders(): NodeId[] {
    return this.upIds().filter((id) => this.core(id).role === Role.Leader);
  }

  /** The leader with the highest term among up nodes, if any. */
  leader(): NodeId | undefined {
    let best: NodeId | undefined;
    for (const id of this.leaders())
      if (best === undefined || this.core(id).term > this.core(best).term) best = id;
    return best;
  }

  // ---- network ---------------------------------------------------------------------------------

  /** Cuts every link between the given groups (nodes in no group keep all their links). */
  partition(...groups: NodeId[][]): void {
    this.heal();
    for (const [g, group] of groups.entries())
      for (const [h, other] of groups.entries())
        if (g !== h) for (const a of group) for (const b of other) this.cuts.add(`${a}>${b}`);
  }

  /** Cuts every link of the given nodes, both ways. */
  isolate(...ids: NodeId[]): void {
    for (const a of ids)
      for (const b of this.ids)
        if (a !== b) {
          this.cuts.add(`${a}>${b}`);
          this.cuts.add(`${b}>${a}`);
        }
  }

  /** Cuts the one-way link from a to b. */
  cut(from: NodeId, to: NodeId): void {
    this.cuts.add(`${from}>${to}`);
  }

  heal(): void {
    this.cuts.clear();
  }

  private dropped(m: Message): boolean {
    return this.cuts.has(`${m.from}>${m.to}`) || !this.node(m.to).up || this.dropIf(m);
  }

  // ---- time and delivery -----------------------------------------------------------------------

  /** Ticks the given (up) nodes n times, draining the network after each tick. */
  tick(n = 1, ids: NodeId[] = this.ids): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids) if (this.node(id).up) this.core(id).tick();
      this.drain();
    }
  }

  /** Ticks until pred holds; returns the number of ticks taken, or -1 past max. */
  tickUntil(pred: () => boolean, max: number, ids: NodeId[] = this.ids): number {
    for (let i = 0; i <= max; i++) {
      if (pred()) return i;
      if (i < max) this.tick(1, ids);
    }
    return -1;
  }

  /** Ticks everybody until exactly one leader is known to every reachable up node. */
  elect(max = 500): NodeId {
    let elected: NodeId | undefined;
    const ok = this.tickUntil(() => {
      const [only, ...more] = this.leaders();
      if (only === undefined || more.length > 0) return false;
      const term = this.core(only).term;
      elected = only;
      return this.upIds().every((id) => {
        const c = this.core(id);
        return c.leader === only && c.term === term;
      });
    }, max);
    if (ok < 0 || elected === undefined) throw new Error('no stable leader elected');
    return elected;
  }

  /**
   * Handles every Ready and delivers every message until nothing is left (a leader with commit
   * news not yet sent is ticked once to send it), or until `until`
   * holds (checked after each Ready and each delivery; undelivered messages stay queued).
   */
  drain(until?: () => boolean, maxRounds = 5000): void {
    for (let round = 0; round < maxRounds; round++) {
      let progressed = false;
      for (const id of this.ids) {
        const n = this.node(id);
        for (let k = 0; n.up && n.core.hasReady(); k++) {
          if (k > 1000) throw new Error(`${id}: hasReady() never settles`);
          this.queue.push(...this.handleReady(n));
          progressed = true;
          this.observe();
          if (until?.()) return;
        }
      }
      if (this.queue.length === 0 && !progressed) {
        // A leader tells followers the commit index at its next tick: quiet means told.
        const news = this.upIds().filter((id) => this.core(id).commitNewsPending);
        if (news.length === 0) return;
        for (const id of news) this.core(id).tick();
        continue;
      }
      while (this.queue.length > 0) {
        const m = this.queue.shift()!;
        this.deliver(m);
        this.observe();
        if (until?.()) return;
      }
    }
    throw new Error('network did not quiesce');
  }

  /** Steps one message into its receiver, unless the network drops it. */
  deliver(m: Message): void {
    if (this.dropped(m)) {
      const sender = this.nodes.get(m.from);
      if (m.type === 'InstallSnapshot' && sender?.up) sender.core.reportSnapshot(m.to, false);
      return;
    }
    let msg = m;
    if (m.type === 'InstallSnapshot' && m.data === undefined) {
      // The driver streams the stored snapshot: fill in the sender's snapshot bytes.
      const data =
        this.node(m.from).persisted.snapshotData ?? snapshotDataOf(enc(`snap@${m.snapshot.index}`));
      msg = { ...m, data };
    }
    this.delivered.push(msg);
    this.core(m.to).step(msg);
    const sender = this.nodes.get(m.from);
    if (m.type === 'InstallSnapshot' && sender?.up) sender.core.reportSnapshot(m.to, true);
  }

  private observe(): void {
    for (const id of this.upIds()) {
      const c = this.core(id);
      if (c.role !== Role.Leader) continue;
      let s = this.leadersByTerm.get(c.term);
      if (!s) this.leadersByTerm.set(c.term, (s = new Set()));
      s.add(id);
    }
  }

  /**
   * One Ready of node n, carried out by libs/raft's handleReady (the order RaftNode uses) with
   * an in-memory, synchronous disk. Every write and every message is checked; the messages
   * are returned in the order they were sent, for the caller to deliver.
   */
  handleReady(n: SimNode): Message[] {
    const rd = n.core.ready();
    n.readies.push(rd);
    const out: Message[] = [];
    const pending = handleReady(n.core, rd, n.persisted.hardState, {
      send: (m) => {
        // Checked against what is durable when it leaves: before or after this Ready's write.
        this.checkPersistOrder(n, m);
        out.push(m);
      },
      persist: (batch) => this.persist(n, batch),
      restore: (snapshot) => {
        n.restoredSnapshots.push(snapshot.meta);
        n.appliedIndex = snapshot.meta.index;
      },
      apply: (e) => {
        if (e.index !== n.appliedIndex + 1)
          this.safetyViolations.push(`${n.id}: applied ${e.index} after ${n.appliedIndex}`);
        const t = this.appliedTerms.get(e.index);
        if (t !== undefined && t !== e.term)
          this.safetyViolations.push(
            `${n.id}: applied ${e.index}@t${e.term} but t${t} was applied there elsewhere`,
          );
        this.appliedTerms.set(e.index, e.term);
        n.applied.push(e);
        n.appliedIndex = e.index;
      },
      reads: (dropped, confirmed) => {
        n.droppedReads.push(...dropped);
        n.readStates.push(...confirmed);
      },
    });
    if (pending) throw new Error('the harness disk completes writes at once');
    this.sent.push(...out);
    return out;
  }

  /** One atomic write of hardState, snapshot and entries to n's durable state. */
  private persist(n: SimNode, batch: PersistBatch): void {
    const before = n.persisted;
    let entries = before.entries;
    let snapshot = before.snapshot;
    let snapshotData = before.snapshotData;
    if (batch.snapshot) {
      snapshot = batch.snapshot.meta;
      snapshotData = batch.snapshot.data;
      entries = [];
    }
    const fresh = batch.entries ?? [];
    const first = fresh[0]?.index;
    if (first !== undefined) {
      const base = snapshot?.index ?? 0;
      if (first > base + entries.length + 1)
        this.safetyViolations.push(`${n.id}: gap persisting entry ${first}`);
      entries = entries.filter((e) => e.index < first).concat(fresh);
    }
    const hardState = batch.hardState ?? before.hardState;
    this.checkVote(n.id, before.hardState, hardState);
    n.persisted = { hardState, snapshot, snapshotData, entries };
  }

  private checkVote(id: NodeId, prev: HardState, next: HardState): void {
    if (next.term < prev.term)
      this.safetyViolations.push(`${id}: durable term went back ${prev.term} -> ${next.term}`);
    if (next.commit < prev.commit)
      this.safetyViolations.push(
        `${id}: durable commit went back ${prev.commit} -> ${next.commit}`,
      );
    if (next.vote === '') return;
    let votes = this.votesByTerm.get(id);
    if (!votes) this.votesByTerm.set(id, (votes = new Map<number, string>()));
    const earlier = votes.get(next.term);
    if (earlier !== undefined && earlier !== next.vote)
      this.safetyViolations.push(
        `${id}: voted for ${earlier} and then ${next.vote} in term ${next.term}`,
      );
    votes.set(next.term, next.vote);
  }

  /**
   * Figure 2: persistent state is "updated on stable storage before responding to RPCs". m is
   * checked against what n has made durable at the moment it is sent.
   */
  private checkPersistOrder(n: SimNode, m: Message): void {
    const bad = (why: string) =>
      this.persistViolations.push(`${n.id} -> ${m.to} ${m.type}(t${m.term}): ${why}`);
    const p = n.persisted;
    const hs = p.hardState;
    const preVote =
      (m.type === 'RequestVote' || m.type === 'RequestVoteResponse') && m.preVote === true;
    if (!preVote && m.term > hs.term) bad(`term not durable (durable t${hs.term})`);
    switch (m.type) {
      case 'RequestVote':
        if (!m.preVote && (hs.term !== m.term || hs.vote !== n.id))
          bad(`own vote not durable (durable t${hs.term} vote '${hs.vote}')`);
        break;
      case 'RequestVoteResponse':
        if (!m.preVote && m.voteGranted && (hs.term !== m.term || hs.vote !== m.to))
          bad(`granted vote not durable (durable t${hs.term} vote '${hs.vote}')`);
        break;
      case 'AppendEntriesResponse':
        if (m.success) {
          const t = persistedTerm(p, m.matchIndex);
          if (t === undefined) bad(`match ${m.matchIndex} beyond durable log`);
          else if (t !== 'compacted' && t !== n.core.log.term(m.matchIndex))
            bad(`durable term at ${m.matchIndex} is t${t}`);
        }
        break;
      case 'InstallSnapshotResponse':
        if (m.matchIndex > persistedLastIndex(p))
          bad(`match ${m.matchIndex} beyond durable log ${persistedLastIndex(p)}`);
        break;
      default:
        break;
    }
  }

  // ---- node life cycle -------------------------------------------------------------------------

  /** The node stops: its undelivered messages are lost, and anything not persisted. */
  crash(id: NodeId): void {
    this.node(id).up = false;
    this.queue = this.queue.filter((m) => m.from !== id && m.to !== id);
  }

  /** Rebuilds the node from its durable state only; the state machine restarts from snapshot. */
  restart(id: NodeId): RaftCore {
    const n = this.node(id);
    n.incarnation++;
    // A fresh, distinct random stream per node and incarnation (identical streams would tie
    // every election forever).
    const k = this.ids.indexOf(id);
    n.core = this.build(id, n.persisted, this.seed * 1000 + 100 * n.incarnation + k);
    n.up = true;
    n.appliedIndex = n.persisted.snapshot?.index ?? 0;
    return n.core;
  }

  /** The application snapshots node id at its applied index and compacts the log up to it. */
  compact(id: NodeId, upTo?: number): SnapshotMeta {
    const n = this.node(id);
    const index = upTo ?? n.core.log.applied;
    const meta = n.core.snapshotMetaAt(index);
    n.core.compacted(meta, index);
    n.persisted = {
      ...n.persisted,
      snapshot: meta,
      snapshotData: snapshotDataOf(enc(`snap@${meta.index}`)),
      entries: n.persisted.entries.filter((e) => e.index > meta.index),
    };
    return meta;
  }

  /** Proposes one text command per argument on node id; returns the index of the first. */
  propose(id: NodeId, ...texts: string[]): number {
    return this.core(id).propose(texts.map(enc)).index;
  }

  /** Entries 1..last of node id (terms), from its in-memory log (undefined where compacted). */
  termsOf(id: NodeId): (number | undefined)[] {
    const log = this.core(id).log;
    const out: (number | undefined)[] = [];
    for (let i = 1; i <= log.lastIndex(); i++) out.push(log.term(i));
    return out;
  }

  /** The application data of entries applied by node id, Normal entries only. */
  appliedTexts(id: NodeId): string[] {
    return this.node(id)
      .applied.filter((e) => e.type === EntryType.Normal)
      .map((e) => dec(e.data));
  }
}

/** Counts delivered messages matching pred. */
export function count(msgs: readonly Message[], pred: (m: Message) => boolean): number {
  return msgs.filter(pred).length;
}
