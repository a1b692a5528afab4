// Raft metrics of one node, read from the RaftNode driver: scrape-time gauges over status() and
// its counters, histograms fed by its observer, and counters of role and leader transitions.
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { type RaftNode, Role, type SnapshotMeta } from '../../../../libs/raft/src/index.js';
import {
  computedGauge,
  LATENCY_BUCKETS,
  mirroredCounter,
  mirroredLabelledCounter,
  PREFIX,
} from './prom.js';

const P = `${PREFIX}raft_`;
const ROLES = [Role.Follower, Role.PreCandidate, Role.Candidate, Role.Leader];
/** fsync on an SSD takes tens of microseconds to milliseconds; a struggling disk, seconds. */
const FSYNC_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

interface PeerStats {
  queued: number;
  dropped: number;
  connected: boolean;
}

/** Registers the node's Raft metrics and logs its elections and leader changes. */
export function registerRaftMetrics<R>(
  register: Registry,
  raft: RaftNode<R>,
  logger: Logger,
): void {
  const status = () => raft.status();
  const peers = raft.status().voters.filter((v) => v !== raft.id);

  computedGauge(register, `${P}term`, 'Current Raft term of this node.', () => status().term);
  new Gauge({
    name: `${P}role`,
    help: 'Raft role of this node: 1 for the current role, 0 for the others.',
    labelNames: ['role'],
    registers: [register],
    collect() {
      const role = raft.status().role;
      for (const r of ROLES) this.set({ role: r }, r === role ? 1 : 0);
    },
  });
  computedGauge(register, `${P}is_leader`, '1 if this node is the Raft leader.', () =>
    raft.isLeader() ? 1 : 0,
  );
  computedGauge(register, `${P}has_leader`, '1 if this node knows a Raft leader.', () =>
    raft.leaderId() ? 1 : 0,
  );
  new Gauge({
    name: `${P}leader_info`,
    help: 'The leader this node knows, as the leader label (value 1); absent without one.',
    labelNames: ['leader'],
    registers: [register],
    collect() {
      this.reset();
      const leader = raft.leaderId();
      if (leader) this.set({ leader }, 1);
    },
  });
  computedGauge(register, `${P}voters`, 'Voting members of the cluster.', () => peers.length + 1);
  computedGauge(register, `${P}commit_index`, 'Highest log index known committed.', () =>
    Number(status().commit),
  );
  computedGauge(register, `${P}applied_index`, 'Highest log index applied here.', () =>
    Number(raft.applied),
  );
  computedGauge(register, `${P}last_index`, 'Index of the last entry in the log.', () =>
    Number(status().lastIndex),
  );
  computedGauge(register, `${P}log_entries`, 'Entries in the log after the last compaction.', () =>
    Number(raft.logSize().entries),
  );
  computedGauge(register, `${P}log_bytes`, 'Approximate size of those entries.', () =>
    Math.round(raft.logSize().bytes),
  );

  const c = raft.counters;
  mirroredLabelledCounter(
    register,
    `${P}proposals_total`,
    'Proposals made on this node, by result (committed, not_leader, dropped, lost, failed).',
    'result',
    () => c.proposals,
  );
  mirroredCounter(
    register,
    `${P}append_entries_sent_total`,
    'AppendEntries messages sent to followers.',
    () => c.appendEntriesSent,
  );
  mirroredCounter(
    register,
    `${P}append_entries_received_total`,
    'AppendEntries messages received from a leader.',
    () => c.appendEntriesReceived,
  );
  mirroredCounter(
    register,
    `${P}snapshots_taken_total`,
    'Snapshots taken locally (each compacts the log).',
    () => c.snapshotsTaken,
  );
  mirroredCounter(
    register,
    `${P}snapshots_installed_total`,
    'Snapshots received from a leader and installed.',
    () => c.snapshotsInstalled,
  );

  const commit = new Histogram({
    name: `${P}proposal_commit_duration_seconds`,
    help: 'From proposal to applied on this leader, for committed proposals.',
    buckets: LATENCY_BUCKETS,
    registers: [register],
  });
  const fsync = new Histogram({
    name: `${P}storage_fsync_duration_seconds`,
    help: 'Latency of synced (fsync) Raft storage writes.',
    buckets: FSYNC_BUCKETS,
    registers: [register],
  });
  const batch = new Histogram({
    name: `${P}storage_entries_per_write`,
    help: 'Log entries carried by each synced storage write (group commit).',
    buckets: BATCH_BUCKETS,
    registers: [register],
  });
  raft.observer = {
    proposalCommitted: (seconds) => commit.observe(seconds),
    storageWrite: (seconds, entries) => {
      fsync.observe(seconds);
      batch.observe(entries);
    },
  };

  const snapshotSeconds = new Histogram({
    name: `${P}snapshot_duration_seconds`,
    help: 'Time to take (operation="take") or install (operation="install") a snapshot.',
    labelNames: ['operation'],
    buckets: LATENCY_BUCKETS,
    registers: [register],
  });
  const snapshotBytes = new Gauge({
    name: `${P}snapshot_size_bytes`,
    help: 'Size of the latest snapshot taken or installed here.',
    registers: [register],
  });
  for (const operation of ['take', 'install']) snapshotSeconds.zero({ operation });
  const onSnapshot = (operation: string) => (_meta: SnapshotMeta, bytes: number, s: number) => {
    snapshotSeconds.observe({ operation }, s);
    snapshotBytes.set(bytes);
  };
  raft.on('snapshot', onSnapshot('take'));
  raft.on('snapshotInstalled', onSnapshot('install'));

  new Gauge({
    name: `${P}replication_lag_entries`,
    help: 'On the leader: entries each follower (peer label) still lacks.',
    labelNames: ['peer'],
    registers: [register],
    collect() {
      this.reset();
      const s = raft.status();
      if (s.role !== Role.Leader) return;
      for (const [peer, pr] of Object.entries(s.progress))
        this.set({ peer }, Math.max(0, s.lastIndex - pr.matchIndex));
    },
  });
  registerPeerMetrics(register, raft, peers);
  registerTransitions(register, raft, logger);
}

/** Outbound transport state per peer, when the transport reports it (GrpcTransport does). */
function registerPeerMetrics<R>(register: Registry, raft: RaftNode<R>, peers: string[]): void {
  const transport = raft.transport as { peerStats?: (peer: string) => PeerStats | null };
  if (typeof transport.peerStats !== 'function') return;
  const stats = (each: (peer: string, s: PeerStats) => void) => {
    for (const peer of peers) {
      const s = transport.peerStats!(peer);
      if (s !== null) each(peer, s);
    }
  };
  new Gauge({
    name: `${P}peer_connected`,
    help: '1 while the outbound stream to the peer is connected.',
    labelNames: ['peer'],
    registers: [register],
    collect() {
      stats((peer, s) => this.set({ peer }, s.connected ? 1 : 0));
    },
  });
  new Gauge({
    name: `${P}peer_queued_messages`,
    help: 'Messages queued for the peer and not yet written to its stream.',
    labelNames: ['peer'],
    registers: [register],
    collect() {
      stats((peer, s) => this.set({ peer }, s.queued));
    },
  });
  mirroredLabelledCounter(
    register,
    `${P}peer_dropped_messages_total`,
    'Messages to the peer dropped because its queue was full or the stream failed.',
    'peer',
    () => {
      const out: Record<string, number> = {};
      stats((peer, s) => (out[peer] = s.dropped));
      return out;
    },
  );
}

/**
 * Counts from the driver's events rather than the core: 'role' and 'leader' fire on every
 * soft-state change, so repeats of the same (role, term) or (leader, term) are not new.
 */
function registerTransitions<R>(register: Registry, raft: RaftNode<R>, logger: Logger): void {
  let elections = 0;
  let preVotes = 0;
  let leaderChanges = 0;
  let lastRole: Role | undefined;
  let lastRoleTerm = -1;
  let leader = '';
  let leaderTerm = -1;
  let lost = false;
  raft.on('role', (role: Role, term: number) => {
    const repeat = role === lastRole && term === lastRoleTerm;
    lastRole = role;
    lastRoleTerm = term;
    if (repeat) return;
    if (role === Role.Candidate) {
      elections++;
      logger.info({ term }, 'election started');
    } else if (role === Role.PreCandidate) {
      preVotes++;
      logger.debug({ campaignTerm: term + 1 }, 'pre-vote started');
    }
  });
  raft.on('leader', (next: string, term: number) => {
    if (next === '') {
      if (leader !== '' && !lost) logger.info({ previous: leader, term }, 'leader lost');
      lost = true;
      return;
    }
    lost = false;
    if (next === leader && term === leaderTerm) return;
    leaderChanges++;
    logger.info({ leader: next, previous: leader || undefined, term }, 'leader changed');
    leader = next;
    leaderTerm = term;
  });
  mirroredCounter(
    register,
    `${P}elections_started_total`,
    'Elections this node started as a candidate (each increments the term).',
    () => elections,
  );
  mirroredCounter(
    register,
    `${P}pre_votes_started_total`,
    'Pre-vote rounds this node started (they do not change the term unless won).',
    () => preVotes,
  );
  mirroredCounter(
    register,
    `${P}leader_changes_total`,
    'Times this node saw a new leader (a different node or a new term).',
    () => leaderChanges,
  );
}
