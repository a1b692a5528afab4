import { type CoreConfig, validateCoreConfig } from './config.js';
import { NotLeaderError, ProposalDroppedError, TransferNotPossibleError } from './errors.js';
import { RaftLog } from './log.js';
import {
  applyChange,
  bootstrapMembership,
  ConfigHistory,
  decodeMembers,
  encodeMembers,
  isVoter,
  type Membership,
  type MembershipChange,
  quorumOf,
  votersOf,
} from './membership.js';
import { randomInt } from './prng.js';
import { Progress, ProgressState } from './progress.js';
import { ReadIndex } from './read-index.js';
import type { Ready, SoftState } from './ready.js';
import { checkCommitStored } from './storage.js';
import {
  type AppendEntries,
  type AppendEntriesResponse,
  type Entry,
  EntryType,
  type HardState,
  type HeartbeatResponse,
  type InstallSnapshot,
  type Message,
  type NodeId,
  type RequestVote,
  Role,
  type Snapshot,
  type SnapshotData,
  type SnapshotMeta,
} from './types.js';

type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, 'from'> : never) : never;

export interface CoreStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly progress: Record<
    NodeId,
    { matchIndex: number; nextIndex: number; state: ProgressState }
  >;
  /** The configuration in force: the latest in the log, committed or not. */
  readonly membership: Membership;
}

/**
 * The pure Raft protocol core (Figure 2 of the paper, with PreVote, CheckQuorum, ReadIndex and
 * leadership transfer). Time enters through tick(), messages through step(); everything to
 * persist, send and apply leaves through ready(). No I/O, timers, clock or global randomness.
 */
export class RaftCore {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = '';
  role = Role.Follower;
  leader: NodeId = '';
  readonly log: RaftLog;

  private readonly bootstrap: Membership;
  private readonly configs: ConfigHistory;
  /** Voters of the configuration in force, and a majority of them. */
  private voters: NodeId[] = [];
  private quorum = 1;
  private prevMembership: Membership;
  private prs = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private ticks = 0;
  private leadTransferee: NodeId = '';
  /** Ticks since the pending transfer began: it is abandoned after one election timeout. */
  private transferElapsed = 0;
  private latestSnapshot: SnapshotMeta;

  private msgs: Message[] = [];
  private sendPending = new Set<NodeId>();
  private broadcastPending = false;
  /**
   * The commit index moved since followers were last told. They are told at the next tick (or
   * sooner, by the next AppendEntries carrying entries), not at once: an AppendEntries of its
   * own, its answer and a Ready on every follower for every commit would double the messages
   * of a request, and a follower needs the news only to apply (bounded lag: one tick).
   */
  private commitNews = false;
  /** Set by a tick for the next flush: send AppendEntries carrying only the commit index. */
  private commitNewsDue = false;
  private heartbeatPending = false;
  private pendingSnapshot: Snapshot | undefined;
  private prevHard: HardState;
  private prevSoft: SoftState;

  private readonly reads: ReadIndex;

  constructor(
    private readonly cfg: CoreConfig,
    restored: { hardState: HardState; snapshot: SnapshotMeta | null; entries: Entry[] },
  ) {
    validateCoreConfig(cfg);
    this.reads = new ReadIndex(cfg.maxPendingReads);
    this.id = cfg.id;
    this.latestSnapshot = restored.snapshot ?? { index: 0, term: 0 };
    this.bootstrap = bootstrapMembership(cfg.voters, cfg.addresses);
    this.configs = new ConfigHistory(this.latestSnapshot.membership ?? this.bootstrap);
    // Storages check this themselves, naming where their data lives; this covers any other.
    checkCommitStored(
      cfg.id,
      'the restored state',
      restored.hardState.commit,
      this.latestSnapshot.index + restored.entries.length,
    );
    this.log = new RaftLog(this.latestSnapshot, restored.entries, restored.hardState.commit);
    this.term = restored.hardState.term;
    this.vote = restored.hardState.vote;
    this.prevHard = this.hardState();
    this.resetTimers();
    this.prevSoft = this.softState();
    this.scanConfigs(this.log.firstIndex());
    this.configChanged();
    this.prevMembership = this.configs.current();
  }

  // ---- inputs --------------------------------------------------------------------------------

  tick(): void {
    this.ticks++;
    this.electionElapsed++;
    if (this.role === Role.Leader) return this.tickLeader();
    if (this.electionElapsed < this.randomizedElectionTimeout) return;
    if (this.voters.includes(this.id)) {
      this.electionElapsed = 0;
      this.campaign(this.cfg.preVote, false);
    } else if (this.leader !== '') {
      // Learners, removed nodes and nodes waiting to be added never campaign; one that has not
      // heard from its leader for an election timeout knows none any more, and, its lease over,
      // answers vote requests (it may be a voter in the candidate's configuration already).
      this.leader = '';
    }
  }

  /** Appends commands to the leader's log; returns the index of the first. Throws if not leader. */
  propose(commands: readonly Uint8Array[]): { index: number; term: number } {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.leader);
    if (this.leadTransferee)
      throw new NotLeaderError('', `transferring leadership to ${this.leadTransferee}`);
    if (
      this.log.lastIndex() - this.log.committed + commands.length >
      this.cfg.maxUncommittedEntries
    ) {
      throw new ProposalDroppedError('too many uncommitted entries');
    }
    const index = this.log.lastIndex() + 1;
    const ents = commands.map((data, k) => ({
      index: index + k,
      term: this.term,
      type: EntryType.Normal,
      data,
    }));
    this.log.truncateAndAppend(ents);
    this.broadcastPending = true;
    return { index, term: this.term };
  }

  /**
   * Appends a Config entry for a single-server change (thesis 4.1); it is in force at once, on
   * this leader and on each follower as it appends it. Throws MembershipChangeError (nothing
   * changed) unless the previous change committed and this leader committed an entry of its
   * term, and the change makes sense against the configuration in force.
   */
  proposeMembership(change: MembershipChange): { index: number; term: number } {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.leader);
    if (this.leadTransferee)
      throw new NotLeaderError('', `transferring leadership to ${this.leadTransferee}`);
    const current = this.configs.current();
    const members = applyChange(current, change, {
      configCommitted: current.index <= this.log.committed,
      termCommitted: this.log.term(this.log.committed) === this.term,
      caughtUp: (id) => this.caughtUp(id),
    });
    const index = this.log.lastIndex() + 1;
    const data = encodeMembers(members);
    this.log.truncateAndAppend([{ index, term: this.term, type: EntryType.Config, data }]);
    this.configs.push({ index, members }, this.term);
    this.configChanged();
    this.broadcastPending = true;
    return { index, term: this.term };
  }

  /** Whether a learner's log is close enough to the leader's to make it a voter safely. */
  private caughtUp(id: NodeId): true | string {
    const pr = this.prs.get(id);
    if (!pr) return 'not tracked by this leader';
    if (pr.state !== ProgressState.Replicate)
      return `its log is not known to match the leader's yet (${pr.state})`;
    if (this.ticks - pr.lastHeardTick >= this.cfg.electionTicksMin)
      return `not heard from within the last election timeout (${this.cfg.electionTicksMin} ticks)`;
    const lag = this.log.lastIndex() - pr.matchIndex;
    if (lag > this.cfg.maxPromoteLagEntries)
      return `${lag} entries behind the leader (at most ${this.cfg.maxPromoteLagEntries})`;
    return true;
  }

  /** Starts a ReadIndex round; its ReadState (same id) arrives in a later Ready. */
  readIndex(): number {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.leader);
    if (this.reads.isFull()) throw new ProposalDroppedError('too many pending reads');
    const knowsCommit = this.log.term(this.log.committed) === this.term;
    const { id, started } = this.reads.request(knowsCommit, this.log.committed);
    if (started) this.readsStarted();
    return id;
  }

  /**
   * Starts handing leadership to target (thesis 3.10): proposals are refused until it leads or,
   * after one election timeout, the transfer is abandoned. Asking again for the pending target
   * changes nothing; asking for this node abandons a pending transfer. Throws
   * TransferNotPossibleError, changing nothing, unless the target was heard from less than one
   * election timeout ago (electionTicksMin ticks, the window CheckQuorum judges liveness by): a
   * member that is down could not take over, and would only stall writes. As a transfer lasts
   * that long too, one that timed out is not restarted by a retry unless the target answered
   * meanwhile. A target that is live but behind is caught up first.
   */
  transferLeadership(target: NodeId): void {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.leader);
    if (target === this.id) {
      this.leadTransferee = '';
      return;
    }
    const pr = this.prs.get(target);
    if (!pr) throw new Error(`unknown transfer target ${target}`);
    if (!this.voters.includes(target))
      throw new TransferNotPossibleError(target, 'it is a learner, which cannot lead');
    if (target === this.leadTransferee) return;
    if (this.ticks - pr.lastHeardTick >= this.cfg.electionTicksMin) {
      throw new TransferNotPossibleError(
        target,
        `not heard from within the last election timeout (${this.cfg.electionTicksMin} ticks)`,
      );
    }
    this.leadTransferee = target;
    this.transferElapsed = 0;
    if (pr.matchIndex === this.log.lastIndex())
      this.send({ type: 'TimeoutNow', to: target, term: this.term });
    else this.sendPending.add(target);
  }

  /** The transport could not deliver to peer: stop pipelining blindly. */
  reportUnreachable(peer: NodeId): void {
    const pr = this.prs.get(peer);
    if (this.role === Role.Leader && pr?.state === ProgressState.Replicate) pr.becomeProbe();
  }

  reportSnapshot(peer: NodeId, ok: boolean): void {
    const pr = this.prs.get(peer);
    if (this.role !== Role.Leader || pr?.state !== ProgressState.Snapshot) return;
    // On success the follower holds the snapshot: probe just past it rather than wait for its
    // reply, which may be lost (etcd does the same). On failure probe from the last match, which
    // sends the snapshot again.
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
  }

  /** A leader whose followers have not been told the commit index yet (they will at a tick). */
  get commitNewsPending(): boolean {
    return this.role === Role.Leader && this.commitNews;
  }

  /** The data of the snapshot from the leader that the next Ready carries, if any. */
  get pendingSnapshotData(): SnapshotData | undefined {
    return this.pendingSnapshot?.data;
  }

  /**
   * Index, term and membership of the applied entry at index, for the application's snapshot
   * metadata: every snapshot carries the configuration in force at its index.
   */
  snapshotMetaAt(index: number): SnapshotMeta {
    const term = this.log.term(index);
    if (term === undefined || index > this.log.applied)
      throw new Error(`no applied entry at ${index}`);
    return { index, term, membership: this.configs.at(index) };
  }

  /** The configuration in force (the latest in the log, committed or not). */
  membership(): Membership {
    return this.configs.current();
  }

  /** The application stored a snapshot at meta.index and the log up to compactUpTo may go. */
  compacted(meta: SnapshotMeta, compactUpTo: number): void {
    if (meta.index > this.latestSnapshot.index) this.latestSnapshot = meta;
    this.log.compact(Math.min(compactUpTo, this.log.applied, this.log.stable));
  }

  step(m: Message): void {
    this.stepMessage(m);
    // Entries a follower appended or overwrote may carry (or have removed) configurations.
    if (m.type === 'AppendEntries' && m.entries.length > 0 && this.role === Role.Follower)
      this.scanConfigs(m.prevLogIndex + 1);
  }

  private stepMessage(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === 'RequestVote' && !m.transfer && this.inLeaderLease()) return;
      const keepTerm =
        (m.type === 'RequestVote' && m.preVote) ||
        (m.type === 'RequestVoteResponse' && m.preVote && m.voteGranted);
      if (!keepTerm) {
        const fromLeader =
          m.type === 'AppendEntries' || m.type === 'Heartbeat' || m.type === 'InstallSnapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : '');
      }
    } else if (m.term < this.term) {
      if (
        (m.type === 'AppendEntries' || m.type === 'Heartbeat') &&
        (this.cfg.checkQuorum || this.cfg.preVote)
      ) {
        // A deposed leader that never hears a higher term would keep its followers from electing.
        this.send({ ...reject(m.from, this.term), rejectedIndex: 0 });
      } else if (m.type === 'RequestVote' && m.preVote) {
        this.send({
          type: 'RequestVoteResponse',
          to: m.from,
          term: this.term,
          voteGranted: false,
          preVote: true,
        });
      }
      return;
    }

    if (m.type === 'RequestVote') return this.handleVoteRequest(m);
    switch (this.role) {
      case Role.Leader:
        return this.stepLeader(m);
      case Role.PreCandidate:
      case Role.Candidate:
        return this.stepCandidate(m);
      case Role.Follower:
        return this.stepFollower(m);
    }
  }

  // ---- outputs -------------------------------------------------------------------------------

  hasReady(): boolean {
    this.flush();
    return (
      this.msgs.length > 0 ||
      this.log.stable < this.log.lastIndex() ||
      this.log.hasNextCommitted() ||
      this.pendingSnapshot !== undefined ||
      this.reads.hasOutput() ||
      !sameHard(this.hardState(), this.prevHard) ||
      !sameSoft(this.softState(), this.prevSoft) ||
      this.configs.current() !== this.prevMembership
    );
  }

  ready(): Ready {
    this.flush();
    const hard = this.hardState();
    const soft = this.softState();
    const membership = this.configs.current();
    const rd: Ready = {
      softState: sameSoft(soft, this.prevSoft) ? undefined : soft,
      membership: membership === this.prevMembership ? undefined : membership,
      hardState: sameHard(hard, this.prevHard) ? undefined : hard,
      snapshot: this.pendingSnapshot,
      entries: this.log.unstableEntries(),
      messages: this.msgs,
      committedEntries: this.log.nextCommitted(this.cfg.maxApplyEntries),
      ...this.reads.take(),
    };
    this.prevHard = hard;
    this.prevSoft = soft;
    this.prevMembership = membership;
    this.msgs = [];
    this.pendingSnapshot = undefined;
    return rd;
  }

  /** The driver persisted, sent and applied rd. */
  advance(rd: Ready): void {
    const last = rd.entries.at(-1);
    if (last) this.log.stableTo(last.index, last.term);
    const lastApplied = rd.committedEntries.at(-1)?.index ?? 0;
    // A snapshot stepped in meanwhile may already have moved applied past these entries.
    if (lastApplied > this.log.applied) this.log.appliedTo(lastApplied);
    if (
      rd.hardState?.vote === this.id &&
      rd.hardState.term === this.term &&
      this.role === Role.Candidate
    ) {
      // A candidate counts its own vote only once that vote is durable.
      this.recordVote(this.id, true);
    }
    if (this.role === Role.Leader && this.maybeCommit()) this.commitNews = true;
  }

  status(): CoreStatus {
    const progress: CoreStatus['progress'] = {};
    for (const [id, pr] of this.prs)
      progress[id] = { matchIndex: pr.matchIndex, nextIndex: pr.nextIndex, state: pr.state };
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      progress,
      membership: this.configs.current(),
    };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { role: this.role, leader: this.leader, term: this.term };
  }

  // ---- roles ---------------------------------------------------------------------------------

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = randomInt(
      this.cfg.random,
      this.cfg.electionTicksMin,
      this.cfg.electionTicksMax,
    );
  }

  private becomeFollower(term: number, leader: NodeId): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = '';
    }
    this.leaveLeadership();
    this.role = Role.Follower;
    this.leader = leader;
    this.resetTimers();
  }

  private leaveLeadership(): void {
    this.leadTransferee = '';
    this.reads.dropAll();
    this.prs.clear();
    this.sendPending.clear();
    this.broadcastPending = false;
    this.heartbeatPending = false;
  }

  private campaign(preVote: boolean, transfer: boolean): void {
    this.leaveLeadership();
    this.leader = '';
    this.votes.clear();
    this.resetTimers();
    if (preVote) {
      this.role = Role.PreCandidate;
    } else {
      this.role = Role.Candidate;
      this.term++;
      this.vote = this.id; // counted in advance(), once durable
    }
    const term = preVote ? this.term + 1 : this.term;
    for (const p of this.voters) {
      if (p === this.id) continue;
      this.send({
        type: 'RequestVote',
        to: p,
        term,
        lastLogIndex: this.log.lastIndex(),
        lastLogTerm: this.log.lastTerm(),
        preVote,
        transfer,
      });
    }
    // A pre-vote needs no durability; a lone node wins it here and campaigns for real.
    if (preVote) this.recordVote(this.id, true);
  }

  private recordVote(from: NodeId, granted: boolean): void {
    // Only the voters of this node's configuration count: a learner may answer (see
    // handleVoteRequest), but its vote decides nothing.
    if (!this.voters.includes(from)) return;
    if (!this.votes.has(from)) this.votes.set(from, granted);
    let yes = 0;
    for (const g of this.votes.values()) if (g) yes++;
    const no = this.votes.size - yes;
    if (yes >= this.quorum) {
      if (this.role === Role.PreCandidate) this.campaign(false, false);
      else if (this.role === Role.Candidate) this.becomeLeader();
    } else if (no >= this.quorum) {
      this.becomeFollower(this.term, '');
    }
  }

  private becomeLeader(): void {
    this.role = Role.Leader;
    this.leader = this.id;
    this.resetTimers();
    this.prs.clear();
    this.trackMembers();
    // The no-op lets this leader commit, and so learn the commit index (paper 5.4.2, 8).
    this.log.truncateAndAppend([
      { index: this.log.lastIndex() + 1, term: this.term, type: EntryType.Noop, data: EMPTY },
    ]);
    this.broadcastPending = true;
  }

  private inLeaderLease(): boolean {
    // With CheckQuorum a follower that hears from a live leader ignores vote requests, so a
    // node rejoining from a partition cannot depose a healthy leader.
    return (
      this.cfg.checkQuorum && this.leader !== '' && this.electionElapsed < this.cfg.electionTicksMin
    );
  }

  private handleVoteRequest(m: RequestVote): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === '' && this.leader === '') ||
      (m.preVote && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      this.send({
        type: 'RequestVoteResponse',
        to: m.from,
        term: m.term,
        voteGranted: true,
        preVote: m.preVote,
      });
      if (!m.preVote) {
        this.vote = m.from;
        this.electionElapsed = 0;
      }
    } else {
      this.send({
        type: 'RequestVoteResponse',
        to: m.from,
        term: this.term,
        voteGranted: false,
        preVote: m.preVote,
      });
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'AppendEntries':
      case 'Heartbeat':
      case 'InstallSnapshot':
        this.becomeFollower(this.term, m.from);
        return this.stepFollower(m);
      case 'RequestVoteResponse':
        if (m.preVote === (this.role === Role.PreCandidate)) this.recordVote(m.from, m.voteGranted);
        return;
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'AppendEntries':
        this.electionElapsed = 0;
        this.leader = m.from;
        return this.handleAppend(m);
      case 'Heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.log.commitTo(Math.min(m.leaderCommit, this.log.lastIndex()));
        this.send({ type: 'HeartbeatResponse', to: m.from, term: this.term, ctx: m.ctx });
        return;
      case 'InstallSnapshot':
        this.electionElapsed = 0;
        this.leader = m.from;
        return this.handleSnapshot(m);
      case 'TimeoutNow':
        return this.campaign(false, true);
      default:
        return;
    }
  }

  private handleAppend(m: AppendEntries): void {
    let { prevLogIndex, prevLogTerm, entries } = m;
    const committed = this.log.committed;
    if (prevLogIndex < committed) {
      // Entries up to our commit index match the leader's (Leader Completeness); skip them,
      // since some may already be compacted away here.
      const skip = Math.min(entries.length, committed - prevLogIndex);
      entries = entries.slice(skip);
      prevLogIndex = committed;
      prevLogTerm = this.log.term(committed)!;
      if (entries.length === 0) return this.acceptAppend(m.from, committed);
    }
    const lastNew = this.log.maybeAppend(prevLogIndex, prevLogTerm, m.leaderCommit, entries);
    if (lastNew !== null) return this.acceptAppend(m.from, lastNew);
    const last = this.log.lastIndex();
    const conflictTerm = prevLogIndex > last ? 0 : this.log.term(prevLogIndex)!;
    const conflictIndex = prevLogIndex > last ? last + 1 : this.log.firstIndexOfTerm(prevLogIndex);
    this.send({
      ...reject(m.from, this.term),
      rejectedIndex: prevLogIndex,
      conflictTerm,
      conflictIndex,
    });
  }

  private acceptAppend(to: NodeId, matchIndex: number): void {
    const r = {
      type: 'AppendEntriesResponse',
      to,
      term: this.term,
      success: true,
      matchIndex,
    } as const;
    this.send({ ...r, rejectedIndex: 0, conflictTerm: 0, conflictIndex: 0 });
  }

  private handleSnapshot(m: InstallSnapshot): void {
    const meta = m.snapshot;
    const reply = (matchIndex: number) =>
      this.send({ type: 'InstallSnapshotResponse', to: m.from, term: this.term, matchIndex });
    if (meta.index <= this.log.committed) return reply(this.log.committed);
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We hold the snapshot's last entry: our log already matches up to it.
      this.log.commitTo(meta.index);
      return reply(meta.index);
    }
    if (!m.data) return;
    this.log.restore(meta);
    this.latestSnapshot = meta;
    this.configs.reset(meta.membership ?? this.bootstrap);
    this.configChanged();
    this.pendingSnapshot = { meta, data: m.data };
    reply(meta.index);
  }

  // ---- leader --------------------------------------------------------------------------------

  private tickLeader(): void {
    this.heartbeatElapsed++;
    if (this.commitNews) {
      this.commitNews = false;
      this.commitNewsDue = true;
      this.broadcastPending = true;
    }
    if (this.leadTransferee && ++this.transferElapsed >= this.cfg.electionTicksMin) {
      this.leadTransferee = ''; // the transfer timed out: keep leading
    }
    if (this.electionElapsed >= this.cfg.electionTicksMin) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        let active = this.voters.includes(this.id) ? 1 : 0;
        for (const [id, pr] of this.prs) {
          if (pr.recentActive && this.voters.includes(id)) active++;
          pr.recentActive = false;
        }
        if (active < this.quorum) return this.becomeFollower(this.term, '');
      }
    }
    for (const [id, pr] of this.prs) {
      if (
        pr.state === ProgressState.Snapshot &&
        this.ticks - pr.snapshotSentTick >= this.cfg.snapshotTimeoutTicks
      ) {
        pr.becomeProbe();
        this.sendPending.add(id);
      }
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.heartbeatPending = true;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case 'AppendEntriesResponse':
        pr.heardFrom(this.ticks);
        return this.handleAppendResponse(m, pr);
      case 'HeartbeatResponse':
        pr.heardFrom(this.ticks);
        return this.handleHeartbeatResponse(m, pr);
      case 'InstallSnapshotResponse':
        pr.heardFrom(this.ticks);
        pr.maybeUpdate(m.matchIndex);
        if (pr.state === ProgressState.Snapshot) pr.becomeProbe();
        this.sendPending.add(m.from);
        return;
      default:
        return;
    }
  }

  private handleAppendResponse(m: AppendEntriesResponse, pr: Progress): void {
    if (!m.success) {
      let hint = m.conflictIndex;
      if (m.conflictTerm > 0) {
        const idx = this.log.lastIndexOfTerm(m.conflictTerm, m.rejectedIndex);
        if (idx > 0) hint = idx + 1;
      }
      if (pr.maybeDecrTo(m.rejectedIndex, hint)) {
        if (pr.state === ProgressState.Replicate) {
          const next = pr.nextIndex;
          pr.becomeProbe();
          pr.nextIndex = next;
        }
        this.sendPending.add(m.from);
      }
      return;
    }
    if (!pr.maybeUpdate(m.matchIndex)) {
      // A probe that succeeded at the known match (say, right after a snapshot) still proves
      // the logs agree there: start pipelining instead of waiting for the next heartbeat.
      if (pr.state !== ProgressState.Probe || m.matchIndex !== pr.matchIndex) return;
      pr.becomeReplicate();
      this.sendPending.add(m.from);
      return;
    }
    if (pr.state === ProgressState.Probe) pr.becomeReplicate();
    else if (pr.state === ProgressState.Snapshot && pr.matchIndex >= pr.pendingSnapshot)
      pr.becomeProbe();
    if (this.maybeCommit()) this.commitNews = true;
    this.sendPending.add(m.from);
    if (m.from === this.leadTransferee && pr.matchIndex === this.log.lastIndex()) {
      this.send({ type: 'TimeoutNow', to: m.from, term: this.term });
    }
  }

  private handleHeartbeatResponse(m: HeartbeatResponse, pr: Progress): void {
    if (pr.state === ProgressState.Probe) pr.probeSent = false;
    if (pr.matchIndex < this.log.lastIndex()) {
      // In replicate state an AppendEntries may have been lost: an empty one at nextIndex either
      // succeeds or is rejected with a hint, and replication resumes either way.
      if (pr.state === ProgressState.Replicate) this.sendAppend(m.from, pr, true);
      else this.sendPending.add(m.from);
    }
    if (m.ctx > pr.readAck) {
      pr.readAck = m.ctx;
      this.confirmReads();
    }
  }

  private maybeCommit(): boolean {
    const n = this.atQuorum((id) =>
      id === this.id ? this.log.stable : this.prs.get(id)?.matchIndex,
    );
    // Only entries of the current term commit by counting replicas (paper 5.4.2).
    if (n <= this.log.committed || this.log.term(n) !== this.term) return false;
    const configIndex = this.configs.current().index;
    const configCommitted = configIndex > this.log.committed && configIndex <= n;
    this.log.commitTo(n);
    if (configCommitted) {
      if (!isVoter(this.configs.current(), this.id)) return this.stepDownRemoved();
      this.trackMembers();
    }
    // Heartbeats acknowledged since waiting reads arrived may already confirm them.
    if (this.reads.commitKnown(this.log.committed)) this.readsStarted();
    return true;
  }

  private readsStarted(): void {
    if (this.prs.size > 0) this.heartbeatPending = true;
    this.confirmReads();
  }

  private confirmReads(): void {
    this.reads.confirm(
      this.atQuorum((id) => (id === this.id ? this.reads.latest : this.prs.get(id)?.readAck)),
    );
  }

  /**
   * The largest value a majority of the voters has reached, given each voter's. A leader tracks
   * every member but itself, so every voter has a value; a leader that is not a voter (it is
   * removing itself) does not count its own.
   */
  private atQuorum(valueOf: (id: NodeId) => number | undefined): number {
    const values = this.voters.map((id) => {
      const v = valueOf(id);
      if (v === undefined) throw new Error(`raft invariant: leader does not track voter ${id}`);
      return v;
    });
    values.sort((a, b) => b - a);
    const v = values[this.quorum - 1];
    if (v === undefined) throw new Error(`raft invariant: ${values.length} voters, no quorum`);
    return v;
  }

  /**
   * A leader whose own removal (or demotion) committed steps down (thesis 4.2.2), handing over
   * to the most caught-up voter at once rather than after an election timeout.
   */
  private stepDownRemoved(): true {
    let best: NodeId = '';
    let bestMatch = -1;
    for (const id of this.voters) {
      const m = this.prs.get(id)?.matchIndex ?? -1;
      if (m > bestMatch) [best, bestMatch] = [id, m];
    }
    this.broadcastPending = true;
    this.flush();
    if (best !== '' && bestMatch === this.log.lastIndex())
      this.send({ type: 'TimeoutNow', to: best, term: this.term });
    this.becomeFollower(this.term, '');
    return true;
  }

  /** Re-reads the configurations of the log from index `from` on (entries there changed). */
  private scanConfigs(from: number): void {
    const before = this.configs.current();
    const lo = this.configs.truncateFrom(Math.max(from, this.log.firstIndex()), (i) =>
      this.log.term(i),
    );
    for (let i = lo; i <= this.log.lastIndex(); i++) {
      const e = this.log.entry(i);
      if (e.type === EntryType.Config)
        this.configs.push({ index: i, members: decodeMembers(e.data) }, e.term);
    }
    if (this.configs.current() !== before) this.configChanged();
  }

  /** The configuration in force may have changed: recompute the voters and what a leader tracks. */
  private configChanged(): void {
    const m = this.configs.current();
    this.voters = votersOf(m);
    this.quorum = quorumOf(this.voters.length);
    if (this.role === Role.Leader) this.trackMembers();
  }

  /**
   * A leader tracks the progress of every member but itself, voters and learners, and until a
   * change commits also the members it removed: they then learn of their removal (and stop
   * campaigning), as they would not if the entry removing them never reached them.
   */
  private trackMembers(): void {
    const current = this.configs.current();
    const ids = new Set(current.members.map((x) => x.id));
    if (current.index > this.log.committed)
      for (const m of this.configs.at(current.index - 1).members) ids.add(m.id);
    ids.delete(this.id);
    for (const id of this.prs.keys()) if (!ids.has(id)) this.prs.delete(id);
    for (const id of ids) {
      if (this.prs.has(id)) continue;
      this.prs.set(id, new Progress(this.log.lastIndex() + 1, this.cfg.maxInflightMsgs));
      this.sendPending.add(id);
    }
    if (this.leadTransferee && !this.prs.has(this.leadTransferee)) this.leadTransferee = '';
  }

  /** Sends what is pending, batching everything proposed since the last Ready. */
  private flush(): void {
    if (this.role !== Role.Leader) return;
    if (this.broadcastPending) for (const p of this.prs.keys()) this.sendPending.add(p);
    this.broadcastPending = false;
    for (const p of this.sendPending) {
      const pr = this.prs.get(p);
      if (pr) this.sendAppend(p, pr, false);
    }
    this.sendPending.clear();
    this.commitNewsDue = false;
    if (this.heartbeatPending) {
      this.heartbeatPending = false;
      for (const [p, pr] of this.prs) {
        const leaderCommit = Math.min(pr.matchIndex, this.log.committed);
        this.send({
          type: 'Heartbeat',
          to: p,
          term: this.term,
          leaderCommit,
          ctx: this.reads.latest,
        });
      }
    }
  }

  private sendAppend(to: NodeId, pr: Progress, force: boolean): void {
    if (pr.isPaused() && !(force && pr.state === ProgressState.Replicate)) return;
    const prevLogIndex = pr.nextIndex - 1;
    const prevLogTerm = this.log.term(prevLogIndex);
    if (prevLogTerm === undefined) {
      // The follower needs entries we compacted: send the snapshot instead.
      pr.becomeSnapshot(this.latestSnapshot.index, this.ticks);
      this.send({ type: 'InstallSnapshot', to, term: this.term, snapshot: this.latestSnapshot });
      return;
    }
    const entries = force ? [] : this.log.entriesFrom(pr.nextIndex, this.cfg.maxMsgBytes);
    const leaderCommit = this.log.committed;
    // In replicate state an empty AppendEntries only carries news of the commit index.
    if (
      entries.length === 0 &&
      pr.state === ProgressState.Replicate &&
      !force &&
      (pr.sentCommit >= leaderCommit || !this.commitNewsDue)
    )
      return;
    this.send({
      type: 'AppendEntries',
      to,
      term: this.term,
      prevLogIndex,
      prevLogTerm,
      entries,
      leaderCommit,
    });
    pr.sentCommit = leaderCommit;
    const last = entries.at(-1);
    if (last) pr.sentEntries(last.index);
    else if (pr.state === ProgressState.Probe) pr.probeSent = true;
  }

  private send(m: Outgoing): void {
    this.msgs.push({ ...m, from: this.id });
  }
}

const EMPTY = new Uint8Array(0);

function reject(to: NodeId, term: number): Omit<AppendEntriesResponse, 'from' | 'rejectedIndex'> {
  return {
    type: 'AppendEntriesResponse',
    to,
    term,
    success: false,
    matchIndex: 0,
    conflictTerm: 0,
    conflictIndex: 0,
  };
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.term === b.term;
}
