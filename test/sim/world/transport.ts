// libs/raft's Transport port over the simulated network, keeping GrpcTransport's contract.
import {
  ChunkQueue,
  type InstallSnapshot,
  type Message,
  type NodeId,
  type Snapshot,
  type SnapshotData,
  type SnapshotMeta,
  type Transport,
} from '../../../libs/raft/src/index.js';
import type { SimHost } from './host.js';
import type { Timer } from '../../../libs/raft/src/index.js';
import type { SimNetwork } from './network.js';

export interface SimTransportOptions {
  /** The sender's stored snapshot, as GrpcTransport reads it to stream InstallSnapshot. */
  readonly readSnapshot: () => Promise<Snapshot | null>;
  /** Where an arriving snapshot's chunks go (the receiver's Storage.receiveSnapshot). */
  readonly receiveSnapshot: (
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ) => Promise<SnapshotData>;
  /** At most one unreachable report per peer per this many local ms. Default 50. */
  readonly unreachableEveryMs?: number;
  /**
   * A snapshot transfer that makes no progress (no chunk acknowledged, or none arriving) for
   * this many local ms failed. Default 1000.
   */
  readonly snapshotTimeoutMs?: number;
  /** The network port Raft listens on. Default 'raft'. */
  readonly port?: string;
}

/**
 * What travels: a message; a chunk of a snapshot transfer (the first one with the message's
 * header); the receiver's acknowledgement of a chunk, which lets the sender send the next (the
 * flow control of a gRPC stream); and of the whole snapshot, once stored and stepped.
 */
type Wire =
  | { kind: 'msg'; msg: Message }
  | {
      kind: 'chunk';
      from: NodeId;
      transfer: string;
      seq: number;
      header: InstallSnapshot | null;
      data: Uint8Array;
      done: boolean;
    }
  | { kind: 'chunkAck'; from: NodeId; transfer: string; seq: number }
  | { kind: 'snapshotAck'; from: NodeId; transfer: string };

/** A transfer this node sends: one per peer at a time. */
interface Outbound {
  /** Unique in the world: the sending incarnation and its count. */
  readonly transfer: string;
  chunks?: AsyncIterator<Uint8Array>;
  header?: InstallSnapshot;
  /** The chunk sent and not yet acknowledged. */
  seq: number;
  done: boolean;
  timer?: Timer;
}

/** A transfer this node receives: one per sender at a time. */
interface Inbound {
  readonly transfer: string;
  readonly queue: ChunkQueue;
  nextSeq: number;
  /** A chunk acknowledged only once the storage catches up (the stream's backpressure). */
  heldAck: number | null;
  timer?: Timer;
}

/** Snapshot bytes waiting for the receiver's storage before chunks stop being acknowledged. */
const RECEIVE_HIGH_WATER_BYTES = 4096;

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
  return bytes;
}

/**
 * Delivers Raft messages through SimNetwork. Like GrpcTransport: send() never throws nor
 * blocks; messages may be lost, duplicated or reordered; InstallSnapshot streams the sender's
 * stored snapshot (read at send time, one transfer per peer at a time) chunk by chunk, each
 * sent once the previous was acknowledged, and the receiver writes the chunks to its storage as
 * they come, then steps the message with the staged data; the outcome is reported through
 * onSnapshotStatus once the receiver acknowledged the whole, or as a failure when the transfer
 * stalls (a chunk or an acknowledgement lost: the stream broke) or cannot start; a message to
 * a peer that is down or cut off is reported through onUnreachable (at most once per peer per
 * unreachableEveryMs), after the call that sent it returned.
 */
export class SimTransport implements Transport {
  private state: 'new' | 'started' | 'stopped' = 'new';
  private messageHandler: (msg: Message) => void = () => {};
  private unreachableHandler: (peer: NodeId) => void = () => {};
  private snapshotStatusHandler: (peer: NodeId, ok: boolean) => void = () => {};
  private closePort: (() => void) | undefined;
  private readonly lastUnreachable = new Map<NodeId, number>();
  private readonly outbound = new Map<NodeId, Outbound>();
  private readonly inbound = new Map<NodeId, Inbound>();
  /** Sender -> its last transfer that ended here: late duplicates of it are ignored. */
  private readonly ended = new Map<NodeId, string>();
  private transfers = 0;
  private readonly port: string;
  private readonly unreachableEveryMs: number;
  private readonly snapshotTimeoutMs: number;
  readonly stats = {
    sent: 0,
    snapshotsSent: 0,
    snapshotsFailed: 0,
    snapshotsReceived: 0,
    snapshotChunksSent: 0,
    unreachableReports: 0,
  };

  constructor(
    private readonly host: SimHost,
    private readonly net: SimNetwork,
    private readonly opts: SimTransportOptions,
  ) {
    this.port = opts.port ?? 'raft';
    this.unreachableEveryMs = opts.unreachableEveryMs ?? 50;
    this.snapshotTimeoutMs = opts.snapshotTimeoutMs ?? 1000;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`transport ${this.host.name} cannot start`);
    this.closePort = this.net.listen<Wire>(this.host, this.port, (w) => this.receive(w));
    this.state = 'started';
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
    const verdict = this.post({ kind: 'msg', msg: { ...msg } }, msg.to, wireBytes(msg));
    if (verdict === 'down' || verdict === 'blocked') this.reportUnreachable(msg.to);
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.closePort?.();
    for (const out of this.outbound.values()) void out.chunks?.return?.();
    this.outbound.clear();
    for (const rx of this.inbound.values()) rx.queue.fail(new Error('transport stopped'));
    this.inbound.clear();
  }

  private post(w: Wire, to: NodeId, bytes = 64) {
    return this.net.post<Wire>(this.host, to, this.port, w, bytes);
  }

  private receive(w: Wire): void {
    if (this.state !== 'started') return;
    switch (w.kind) {
      case 'msg': {
        const world = this.host.world;
        if (world.tracing) world.trace(`recv ${describeMessage(w.msg)}`);
        return this.messageHandler(w.msg);
      }
      case 'chunk':
        return this.receiveChunk(w);
      case 'chunkAck': {
        const out = this.outbound.get(w.from);
        if (out?.transfer !== w.transfer || out.seq !== w.seq || out.done) return;
        out.seq++;
        return this.sendChunk(w.from, out);
      }
      case 'snapshotAck':
        return this.finishSnapshot(w.from, w.transfer, true);
    }
  }

  // ---- sending -------------------------------------------------------------------------------

  private sendSnapshot(msg: InstallSnapshot): void {
    const peer = msg.to;
    // The transfer in flight will report its status; a second one would only double the load.
    if (this.outbound.has(peer)) return;
    const transfer = `${this.host.name}:${++this.transfers}`;
    const out: Outbound = { transfer, seq: 0, done: false };
    this.outbound.set(peer, out);
    this.opts.readSnapshot().then(
      (snap) => {
        if (this.outbound.get(peer) !== out || this.state !== 'started') return;
        if (snap === null) return this.failSnapshot(peer, out.transfer);
        this.stats.snapshotsSent++;
        this.host.world.trace(() => `send ${describeMessage(msg)} (${snap.data.bytes} bytes)`);
        out.header = { ...msg, snapshot: snap.meta };
        out.chunks = snap.data.chunks()[Symbol.asyncIterator]();
        this.sendChunk(peer, out);
      },
      () => this.failSnapshot(peer, out.transfer),
    );
  }

  /** Reads the next chunk of the stored snapshot and sends it; an empty one marks the end. */
  private sendChunk(peer: NodeId, out: Outbound): void {
    out.chunks!.next().then(
      (r) => {
        if (this.outbound.get(peer) !== out || this.state !== 'started') return;
        out.done = r.done === true;
        const w: Wire = {
          kind: 'chunk',
          from: this.host.id,
          transfer: out.transfer,
          seq: out.seq,
          header: out.seq === 0 ? out.header! : null,
          data: r.done ? new Uint8Array(0) : r.value,
          done: out.done,
        };
        this.stats.snapshotChunksSent++;
        const verdict = this.post(w, peer, 64 + w.data.length);
        if (verdict === 'down' || verdict === 'blocked')
          return this.failSnapshot(peer, out.transfer);
        out.timer?.cancel();
        out.timer = this.host.after(this.snapshotTimeoutMs, () =>
          this.finishSnapshot(peer, out.transfer, false),
        );
      },
      // The stored snapshot could not be read (replaced before the read began).
      () => this.failSnapshot(peer, out.transfer),
    );
  }

  /** A transfer that could not go on fails after this turn, as a failed gRPC call would. */
  private failSnapshot(peer: NodeId, transfer: string): void {
    this.host.soon(() => this.finishSnapshot(peer, transfer, false));
  }

  private finishSnapshot(peer: NodeId, transfer: string, ok: boolean): void {
    const out = this.outbound.get(peer);
    if (this.state !== 'started' || out?.transfer !== transfer) return;
    this.outbound.delete(peer);
    out.timer?.cancel();
    if (!out.done) void out.chunks?.return?.();
    if (!ok) {
      this.stats.snapshotsFailed++;
      this.reportUnreachable(peer);
    }
    this.snapshotStatusHandler(peer, ok);
  }

  // ---- receiving -----------------------------------------------------------------------------

  private receiveChunk(w: Wire & { kind: 'chunk' }): void {
    let rx = this.inbound.get(w.from);
    if (w.seq === 0 && rx?.transfer !== w.transfer && this.ended.get(w.from) !== w.transfer) {
      if (w.header === null || w.header.to !== this.host.id) return;
      // The sender runs one transfer to us at a time: an older one of its own is dead.
      rx?.queue.fail(new Error('replaced by a newer transfer'));
      rx = this.startReceiving(w.from, w.transfer, w.header);
    }
    // A duplicate, a chunk of a dead transfer, or one past a lost chunk (the transfer stalls).
    if (rx === undefined || rx.transfer !== w.transfer || w.seq !== rx.nextSeq) return;
    rx.nextSeq++;
    this.armReceiveTimer(w.from, rx);
    const below = w.data.length === 0 || rx.queue.push(w.data);
    if (w.done) return rx.queue.end();
    if (below) this.ackChunk(w.from, rx.transfer, w.seq);
    else rx.heldAck = w.seq;
  }

  private startReceiving(from: NodeId, transfer: string, header: InstallSnapshot): Inbound {
    const queue = new ChunkQueue(RECEIVE_HIGH_WATER_BYTES);
    const rx: Inbound = { transfer, queue, nextSeq: 0, heldAck: null };
    queue.onDrain = () => {
      if (rx.heldAck === null) return;
      const seq = rx.heldAck;
      rx.heldAck = null;
      if (this.inbound.get(from) === rx) this.ackChunk(from, transfer, seq);
    };
    this.inbound.set(from, rx);
    const done = () => {
      rx.timer?.cancel();
      if (this.inbound.get(from) !== rx) return;
      this.inbound.delete(from);
      this.ended.set(from, transfer);
    };
    this.opts.receiveSnapshot(header.snapshot, queue).then(
      (data) => {
        done();
        if (this.state !== 'started') return;
        this.stats.snapshotsReceived++;
        const msg: Message = { ...header, data };
        const world = this.host.world;
        if (world.tracing) world.trace(`recv ${describeMessage(msg)} (${data.bytes} bytes)`);
        this.messageHandler(msg);
        // The sender learns the outcome when its stream call completes: an answer on the network.
        this.post({ kind: 'snapshotAck', from: this.host.id, transfer }, from);
      },
      // Cut short (stalled, replaced, stopped): the sender's transfer fails by its timeout.
      done,
    );
    return rx;
  }

  private armReceiveTimer(from: NodeId, rx: Inbound): void {
    rx.timer?.cancel();
    rx.timer = this.host.after(this.snapshotTimeoutMs, () => {
      if (this.inbound.get(from) === rx) rx.queue.fail(new Error('snapshot transfer stalled'));
    });
  }

  private ackChunk(to: NodeId, transfer: string, seq: number): void {
    this.post({ kind: 'chunkAck', from: this.host.id, transfer, seq }, to);
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
