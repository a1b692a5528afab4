// libs/raft's Transport port over the simulated network, keeping GrpcTransport's contract.
import type { Message, NodeId, Snapshot, Transport } from '../../../libs/raft/src/index.js';
import type { SimHost } from './host.js';
import type { SimNetwork } from './network.js';

export interface SimTransportOptions {
  /** The sender's stored snapshot, as GrpcTransport reads it to stream InstallSnapshot. */
  readonly readSnapshot: () => Promise<Snapshot | null>;
  /** At most one unreachable report per peer per this many local ms. Default 50. */
  readonly unreachableEveryMs?: number;
  /** A snapshot transfer not acknowledged within this many local ms failed. Default 1000. */
  readonly snapshotTimeoutMs?: number;
  /** The network port Raft listens on. Default 'raft'. */
  readonly port?: string;
}

/** What travels: a message (a snapshot with its transfer id), or a snapshot's acknowledgement. */
type Wire =
  | { kind: 'msg'; msg: Message; transfer?: number }
  | { kind: 'snapshotAck'; from: NodeId; transfer: number };

/** One line per message for traces: type, term and what matters of its content. */
export function describeMessage(m: Message): string {
  const head = `${m.from}>${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'AppendEntries':
      return `${head} prev=${m.prevLogIndex}/${m.prevLogTerm} n=${m.entries.length} commit=${m.leaderCommit}`;
    case 'AppendEntriesResponse':
      return m.success
        ? `${head} ok match=${m.matchIndex}`
        : `${head} reject at=${m.rejectedIndex} hint=${m.conflictIndex}/${m.conflictTerm}`;
    case 'Heartbeat':
      return `${head} commit=${m.leaderCommit} ctx=${m.ctx}`;
    case 'HeartbeatResponse':
      return `${head} ctx=${m.ctx}`;
    case 'RequestVote':
      return `${head}${m.preVote ? ' pre' : ''}${m.transfer ? ' transfer' : ''} last=${m.lastLogIndex}/${m.lastLogTerm}`;
    case 'RequestVoteResponse':
      return `${head}${m.preVote ? ' pre' : ''} ${m.voteGranted ? 'granted' : 'refused'}`;
    case 'InstallSnapshot':
      return `${head} snap=${m.snapshot.index}/${m.snapshot.term}`;
    case 'InstallSnapshotResponse':
      return `${head} match=${m.matchIndex}`;
    case 'TimeoutNow':
      return head;
  }
}

/** A rough wire size, so that a slow link (msPerByte) delays big messages more. */
function wireBytes(m: Message): number {
  let bytes = 64;
  if (m.type === 'AppendEntries') for (const e of m.entries) bytes += 24 + e.data.byteLength;
  if (m.type === 'InstallSnapshot') bytes += m.data?.byteLength ?? 0;
  return bytes;
}

/**
 * Delivers Raft messages through SimNetwork. Like GrpcTransport: send() never throws nor
 * blocks; messages may be lost, duplicated or reordered; InstallSnapshot carries the sender's
 * stored snapshot (read at send time, one transfer per peer at a time) and its outcome is
 * reported through onSnapshotStatus once the receiver acknowledged it, or as a failure after a
 * timeout; a message to a peer that is down or cut off is reported through onUnreachable (at
 * most once per peer per unreachableEveryMs), after the call that sent it returned.
 */
export class SimTransport implements Transport {
  private state: 'new' | 'started' | 'stopped' = 'new';
  private messageHandler: (msg: Message) => void = () => {};
  private unreachableHandler: (peer: NodeId) => void = () => {};
  private snapshotStatusHandler: (peer: NodeId, ok: boolean) => void = () => {};
  private closePort: (() => void) | undefined;
  private readonly lastUnreachable = new Map<NodeId, number>();
  /** Peer -> id of the transfer in flight. */
  private readonly snapshots = new Map<NodeId, number>();
  private transfers = 0;
  private readonly port: string;
  private readonly unreachableEveryMs: number;
  private readonly snapshotTimeoutMs: number;
  readonly stats = { sent: 0, snapshotsSent: 0, snapshotsFailed: 0, unreachableReports: 0 };

  constructor(
    private readonly host: SimHost,
    private readonly net: SimNetwork,
    private readonly opts: SimTransportOptions,
  ) {
    this.port = opts.port ?? 'raft';
    this.unreachableEveryMs = opts.unreachableEveryMs ?? 50;
    this.snapshotTimeoutMs = opts.snapshotTimeoutMs ?? 1000;
  }

  start(): Promise<void> {
    if (this.state !== 'new')
      return Promise.reject(new Error(`transport ${this.host.name} cannot start`));
    this.closePort = this.net.listen<Wire>(this.host, this.port, (w) => this.receive(w));
    this.state = 'started';
    return Promise.resolve();
  }

  onMessage(handler: (msg: Message) => void): void {
    this.messageHandler = handler;
  }

  onUnreachable(handler: (peer: NodeId) => void): void {
    this.unreachableHandler = handler;
  }

  onSnapshotStatus(handler: (peer: NodeId, ok: boolean) => void): void {
    this.snapshotStatusHandler = handler;
  }

  send(msg: Message): void {
    if (this.state !== 'started' || this.host.crashed) return;
    if (msg.type === 'InstallSnapshot') return this.sendSnapshot(msg);
    this.stats.sent++;
    const world = this.host.world;
    if (world.tracing) world.trace(`send ${describeMessage(msg)}`);
    // A copy, as after encoding: the receiver must not share the sender's message object.
    const verdict = this.net.post<Wire>(
      this.host,
      msg.to,
      this.port,
      { kind: 'msg', msg: { ...msg } },
      wireBytes(msg),
    );
    if (verdict === 'down' || verdict === 'blocked') this.reportUnreachable(msg.to);
  }

  stop(): Promise<void> {
    if (this.state !== 'stopped') {
      this.state = 'stopped';
      this.closePort?.();
      this.snapshots.clear();
    }
    return Promise.resolve();
  }

  private receive(w: Wire): void {
    if (this.state !== 'started') return;
    if (w.kind === 'snapshotAck') return this.finishSnapshot(w.from, w.transfer, true);
    const msg = w.msg;
    const world = this.host.world;
    if (world.tracing) world.trace(`recv ${describeMessage(msg)}`);
    this.messageHandler(msg);
    if (w.transfer !== undefined) {
      // The sender learns the outcome when its stream call completes: an answer on the network.
      const ack: Wire = { kind: 'snapshotAck', from: msg.to, transfer: w.transfer };
      this.net.post<Wire>(this.host, msg.from, this.port, ack);
    }
  }

  private sendSnapshot(msg: Message & { type: 'InstallSnapshot' }): void {
    const peer = msg.to;
    // The transfer in flight will report its status; a second one would only double the load.
    if (this.snapshots.has(peer)) return;
    const transfer = ++this.transfers;
    this.snapshots.set(peer, transfer);
    this.opts.readSnapshot().then(
      (snap) => {
        if (this.snapshots.get(peer) !== transfer || this.state !== 'started') return;
        if (snap === null) return this.failSnapshot(peer, transfer);
        this.stats.snapshotsSent++;
        this.host.world.trace(() => `send ${describeMessage(msg)} (${snap.data.byteLength} bytes)`);
        const full: Message = { ...msg, snapshot: snap.meta, data: snap.data };
        const verdict = this.net.post<Wire>(
          this.host,
          peer,
          this.port,
          { kind: 'msg', msg: full, transfer },
          wireBytes(full),
        );
        if (verdict === 'down' || verdict === 'blocked') return this.failSnapshot(peer, transfer);
        this.host.after(this.snapshotTimeoutMs, () => this.finishSnapshot(peer, transfer, false));
      },
      () => this.failSnapshot(peer, transfer),
    );
  }

  /** A transfer that could not start fails after this turn, as a failed gRPC call would. */
  private failSnapshot(peer: NodeId, transfer: number): void {
    this.host.soon(() => this.finishSnapshot(peer, transfer, false));
  }

  private finishSnapshot(peer: NodeId, transfer: number, ok: boolean): void {
    if (this.state !== 'started' || this.snapshots.get(peer) !== transfer) return;
    this.snapshots.delete(peer);
    if (!ok) {
      this.stats.snapshotsFailed++;
      this.reportUnreachable(peer);
    }
    this.snapshotStatusHandler(peer, ok);
  }

  private reportUnreachable(peer: NodeId): void {
    const now = this.host.now();
    const last = this.lastUnreachable.get(peer);
    if (last !== undefined && now - last < this.unreachableEveryMs) return;
    this.lastUnreachable.set(peer, now);
    this.stats.unreachableReports++;
    this.host.soon(() => {
      if (this.state === 'started') this.unreachableHandler(peer);
    });
  }
}
