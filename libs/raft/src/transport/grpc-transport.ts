// gRPC transport between Raft peers. The core is message-passing, so every RPC only acknowledges
// delivery; responses come back later as messages on the receiver's own outbound stream.
import * as grpc from '@grpc/grpc-js';
import type { Transport } from '../ports.js';
import type {
  InstallSnapshot,
  Message,
  NodeId,
  Snapshot,
  SnapshotData,
  SnapshotMeta,
} from '../types.js';
import {
  decodeAppendEntries,
  decodeHeartbeat,
  decodeMessage,
  decodeRequestVote,
  decodeTimeoutNow,
  encodeMessage,
  encodeSnapshotChunks,
  type InstallSnapshotChunkPb,
  type RaftMessagePb,
} from './codec.js';
import { PeerLink } from './peer-link.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import { loadRaftProto } from './proto.js';
import { ClusterGuard, type ClusterIdentity } from './cluster-guard.js';

export interface TransportLogger {
  warn(obj: object, msg: string): void;
}

/** A gRPC service to serve next to Raft's own, on the same listener. */
export interface PeerService {
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
}

export interface GrpcTransportOptions {
  readonly id: NodeId;
  /** host:port; port 0 binds an ephemeral port, readable from `port` after start(). */
  readonly listenAddress: string;
  /**
   * Address of every peer; an entry for this node itself is ignored. Read when a peer is first
   * contacted, so addresses of peers bound to port 0 may be filled in after construction.
   */
  readonly peers: Readonly<Record<NodeId, string>>;
  /** Largest gRPC message sent or accepted, enforced on both channel ends. Default 16 MiB. */
  readonly maxMessageBytes?: number;
  /** Per-peer outbound queue bound; beyond it messages are dropped. Default 4096. */
  readonly maxQueuedMessages?: number;
  /** Per-peer outbound queue bound in encoded bytes. Default 64 MiB. */
  readonly maxQueuedBytes?: number;
  /** Snapshot data per InstallSnapshot chunk. Default 1 MiB. */
  readonly snapshotChunkBytes?: number;
  /** Cap of the delay between attempts to re-open a failed stream. Default 1000 ms. */
  readonly maxReconnectBackoffMs?: number;
  /** The first such delay, doubled after each failed attempt up to the cap. Default 50 ms. */
  readonly initialReconnectBackoffMs?: number;
  /** The stored snapshot, streamed to a follower that needs it. */
  readonly readSnapshot: () => Promise<Snapshot | null>;
  /**
   * Where a snapshot arriving from the leader goes as its chunks arrive (its node's
   * Storage.receiveSnapshot); the InstallSnapshot stepped into the core carries what it returns.
   */
  readonly receiveSnapshot: (
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ) => Promise<SnapshotData>;
  readonly logger?: TransportLogger;
  /** The listener's credentials (TLS, say); default plaintext. */
  readonly serverCredentials?: grpc.ServerCredentials;
  /** The credentials this node dials its peers with; default plaintext. */
  readonly channelCredentials?: grpc.ChannelCredentials;
  /**
   * More services on the listener, under its credentials: the engine's user carries its own
   * node-to-node calls there rather than open a second listener to secure.
   */
  readonly services?: readonly PeerService[];
  /**
   * The cluster this node belongs to: its id travels with every call, and calls from another
   * cluster are refused (FAILED_PRECONDITION). Without it, no check is made.
   */
  readonly cluster?: ClusterIdentity;
  /**
   * This node's peer address as the others reach it: sent with every call, so that a node that
   * does not know this one yet (it is joining the cluster) can answer it.
   */
  readonly advertiseAddress?: string;
}

const MiB = 1024 * 1024;
/** Who opened a Send stream, so the receiver knows that peer is up before any message. */
const SENDER_HEADER = 'quorumlock-raft-sender';
const CHANNEL_BACKOFF_CAP_MS = 200;
/** Room for the chunk header (ids, term, meta, offset) next to the data in one gRPC message. */
const CHUNK_HEADER_ALLOWANCE = 1024;
const ACK = {};
const passThrough = (b: Buffer): Buffer => b;
// Must not return null: grpc-js takes a null response for a missing one and fails the call.
const ignoreAck = (): object => ACK;
const consoleLogger: TransportLogger = {
  warn: (obj, msg) => console.warn(`[raft-transport] ${msg}`, obj),
};

type State = 'new' | 'started' | 'stopped';

export class GrpcTransport implements Transport {
  private readonly proto = loadRaftProto();
  private readonly id: NodeId;
  private readonly maxMessageBytes: number;
  private readonly log: TransportLogger;
  private readonly server: grpc.Server;
  private readonly channelOptions: grpc.ChannelOptions;
  private readonly clients = new Map<NodeId, grpc.Client>();
  private readonly links = new Map<NodeId, PeerLink>();
  /** Peer -> in-flight snapshot call (null while the snapshot is still being read). */
  private readonly snapshots = new Map<NodeId, grpc.ClientWritableStream<Buffer> | null>();
  private readonly unreachablePending = new Set<NodeId>();
  private readonly receiver: SnapshotReceiver;
  private messageHandler: (msg: Message) => void = () => {};
  private unreachableHandler: (peer: NodeId) => void = () => {};
  private snapshotStatusHandler: (peer: NodeId, ok: boolean) => void = () => {};
  private state: State = 'new';
  private boundPort = 0;
  /** Addresses from the configuration in force, over those of the options. */
  private readonly addresses = new Map<NodeId, string>();
  private readonly guard: ClusterGuard;

  constructor(private readonly opts: GrpcTransportOptions) {
    this.id = opts.id;
    this.maxMessageBytes = opts.maxMessageBytes ?? 16 * MiB;
    this.log = opts.logger ?? consoleLogger;
    this.guard = new ClusterGuard(opts.cluster, opts.advertiseAddress);
    const limits = {
      'grpc.max_send_message_length': this.maxMessageBytes,
      'grpc.max_receive_message_length': this.maxMessageBytes,
      // Detects peers that vanished without closing the connection (partition, power loss).
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    };
    this.channelOptions = {
      ...limits,
      // grpc-js keeps a reconnect backoff of its own per channel, which a peer coming back
      // cannot cut short: kept short, so that the stream re-opened when the peer announces
      // itself finds the channel connecting, not waiting. Dialling a peer that is down a few
      // times a second costs nothing next to an election.
      'grpc.initial_reconnect_backoff_ms': 50,
      'grpc.max_reconnect_backoff_ms': Math.min(
        CHANNEL_BACKOFF_CAP_MS,
        opts.maxReconnectBackoffMs ?? 1000,
      ),
      // Private subchannels: stop() must really close this node's connections, even when
      // several transports live in one process (tests, simulations).
      'grpc.use_local_subchannel_pool': 1,
    };
    this.server = new grpc.Server(limits);
    this.receiver = new SnapshotReceiver({
      id: this.id,
      receiveSnapshot: opts.receiveSnapshot,
      deliver: (msg) => this.deliver(msg),
      stopped: () => this.state === 'stopped',
      warn: (obj, msg) => this.log.warn(obj, msg),
    });
  }

  /** Figures of the snapshots received (see SnapshotReceiver.stats). */
  get receivedSnapshots(): Readonly<SnapshotReceiver['stats']> {
    return this.receiver.stats;
  }

  /** The bound port; meaningful after start(). */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`transport ${this.id} cannot start: ${this.state}`);
    this.server.addService(this.proto.service, {
      Send: this.handleSend,
      InstallSnapshot: this.handleInstallSnapshot,
      AppendEntries: this.unary(decodeAppendEntries),
      Heartbeat: this.unary(decodeHeartbeat),
      RequestVote: this.unary(decodeRequestVote),
      TimeoutNow: this.unary(decodeTimeoutNow),
    });
    for (const s of this.opts.services ?? [])
      this.server.addService(s.definition, s.implementation);
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(
        this.opts.listenAddress,
        this.opts.serverCredentials ?? grpc.ServerCredentials.createInsecure(),
        (err, port) => (err ? reject(err) : resolve(port)),
      );
    });
    if (this.state === 'new') this.state = 'started';
    // Open a stream to every known peer now, with nothing on it yet: a peer whose stream to
    // this node is waiting out its backoff (this node was down) learns that it is back and
    // reconnects at once, so a restarted follower hears its leader without waiting up to
    // maxReconnectBackoffMs.
    for (const peer of Object.keys(this.opts.peers))
      if (peer !== this.id && this.addressOf(peer) !== undefined) this.linkFor(peer)?.connect();
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

  /** Non-blocking and never throws: Raft tolerates loss, so failures become unreachable reports. */
  send(msg: Message): void {
    if (this.state === 'stopped') return;
    try {
      if (msg.type === 'InstallSnapshot') {
        this.sendSnapshot(msg);
        return;
      }
      const link = this.linkFor(msg.to);
      if (link === null) return;
      const buf = this.proto.serializeMessage(encodeMessage(msg));
      if (buf.length > this.maxMessageBytes) {
        this.log.warn(
          { peer: msg.to, type: msg.type, bytes: buf.length, max: this.maxMessageBytes },
          'dropping message larger than maxMessageBytes',
        );
        this.reportUnreachable(msg.to);
        return;
      }
      if (!link.enqueue(buf)) this.reportUnreachable(msg.to);
    } catch (err) {
      this.log.warn(
        { peer: msg.to, type: msg.type, err },
        'dropping message that failed to encode',
      );
    }
  }

  /** See Transport.updatePeers: a peer whose address changed is reconnected at its new one. */
  updatePeers(addresses: Readonly<Record<NodeId, string>>): void {
    for (const [peer, address] of Object.entries(addresses)) {
      if (peer === this.id) this.guard.advertiseAddress = address;
      if (peer === this.id || this.addressOf(peer) === address) continue;
      this.addresses.set(peer, address);
      this.links.get(peer)?.close();
      this.links.delete(peer);
      this.clients.get(peer)?.close();
      this.clients.delete(peer);
    }
  }

  private addressOf(peer: NodeId): string | undefined {
    return this.addresses.get(peer) ?? this.opts.peers[peer];
  }

  /** Outbound state of one peer, for metrics and tests; null before anything was sent to it. */
  peerStats(peer: NodeId): { queued: number; dropped: number; connected: boolean } | null {
    const link = this.links.get(peer);
    if (link === undefined) return null;
    return { queued: link.queued, dropped: link.dropped, connected: link.connected };
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    for (const link of this.links.values()) link.close();
    for (const call of this.snapshots.values()) call?.cancel();
    this.receiver.stop();
    for (const client of this.clients.values()) client.close();
    this.links.clear();
    this.clients.clear();
    this.snapshots.clear();
    await new Promise<void>((resolve) => {
      // tryShutdown reports when listeners and sessions are closed; forceShutdown makes that
      // immediate by cutting the peers' long-lived streams instead of waiting for them to end.
      this.server.tryShutdown(() => resolve());
      this.server.forceShutdown();
    });
  }

  private linkFor(peer: NodeId): PeerLink | null {
    const existing = this.links.get(peer);
    if (existing !== undefined) return existing;
    const client = this.clientFor(peer);
    if (client === null) return null;
    const link = new PeerLink({
      peer,
      client,
      sendPath: this.proto.sendPath,
      maxQueuedMessages: this.opts.maxQueuedMessages ?? 4096,
      maxQueuedBytes: this.opts.maxQueuedBytes ?? 64 * MiB,
      openTimeoutMs: 5_000,
      initialBackoffMs: this.opts.initialReconnectBackoffMs ?? 50,
      maxBackoffMs: this.opts.maxReconnectBackoffMs ?? 1000,
      metadata: () => {
        const md = this.guard.metadata();
        md.set(SENDER_HEADER, this.id);
        return md;
      },
      onFailure: (p, err, wasConnected) => {
        if (this.guard.refused(p, err)) return;
        // Only a lost link is news; repeated failures to reach a down peer would flood the log.
        if (wasConnected) this.log.warn({ peer: p, err }, 'stream to peer lost');
        this.reportUnreachable(p);
      },
    });
    this.links.set(peer, link);
    return link;
  }

  private clientFor(peer: NodeId): grpc.Client | null {
    const existing = this.clients.get(peer);
    if (existing !== undefined) return existing;
    const address = peer === this.id ? undefined : this.addressOf(peer);
    if (address === undefined) {
      this.log.warn({ peer }, 'dropping message to unknown peer');
      return null;
    }
    const client = new grpc.Client(
      address,
      this.opts.channelCredentials ?? grpc.credentials.createInsecure(),
      this.channelOptions,
    );
    this.clients.set(peer, client);
    return client;
  }

  /**
   * Deferred and coalesced: handlers run outside the caller's stack (the core may be in the
   * middle of emitting messages), and a burst of drops yields one report.
   */
  private reportUnreachable(peer: NodeId): void {
    if (this.unreachablePending.has(peer)) return;
    this.unreachablePending.add(peer);
    queueMicrotask(() => {
      this.unreachablePending.delete(peer);
      if (this.state === 'stopped') return;
      try {
        this.unreachableHandler(peer);
      } catch (err) {
        this.log.warn({ peer, err }, 'unreachable handler threw');
      }
    });
  }

  private sendSnapshot(msg: InstallSnapshot): void {
    const peer = msg.to;
    // The in-flight transfer will report its status; a second one would only double the load.
    if (this.snapshots.has(peer)) return;
    const client = this.clientFor(peer);
    if (client === null) return;
    this.snapshots.set(peer, null);
    this.streamSnapshot(client, msg).then(
      () => this.finishSnapshot(peer, true),
      (err: unknown) => {
        if (this.state !== 'stopped') this.log.warn({ peer, err }, 'snapshot transfer failed');
        this.finishSnapshot(peer, false);
      },
    );
  }

  private async streamSnapshot(client: grpc.Client, msg: InstallSnapshot): Promise<void> {
    const snapshot: Snapshot | null =
      msg.data !== undefined
        ? { meta: msg.snapshot, data: msg.data }
        : await this.opts.readSnapshot();
    if (snapshot === null) throw new Error('no snapshot stored to send');
    if (this.state === 'stopped') throw new Error('transport stopped');
    let settle: (err: grpc.ServiceError | null) => void = () => {};
    const finished = new Promise<grpc.ServiceError | null>((resolve) => (settle = resolve));
    let ended = false;
    const call = client.makeClientStreamRequest<Buffer, object>(
      this.proto.installSnapshotPath,
      passThrough,
      ignoreAck,
      this.guard.metadata(),
      (err) => {
        ended = true;
        settle(err);
      },
    );
    this.snapshots.set(msg.to, call);
    const chunkBytes = Math.max(
      1,
      Math.min(
        this.opts.snapshotChunkBytes ?? MiB,
        this.maxMessageBytes - CHUNK_HEADER_ALLOWANCE - msg.from.length * 4 - msg.to.length * 4,
      ),
    );
    try {
      // One chunk read, then written, at a time: memory holds about one chunk per transfer.
      for await (const chunk of encodeSnapshotChunks(msg, snapshot, chunkBytes)) {
        if (ended) break;
        const buf = this.proto.serializeChunk(chunk);
        await Promise.race([
          new Promise<void>((resolve) => call.write(buf, () => resolve())),
          finished,
        ]);
      }
    } catch (err) {
      // The stored snapshot could not be read (replaced meanwhile, or corrupt).
      call.cancel();
      throw err;
    }
    if (!ended) call.end();
    const err = await finished;
    if (err !== null) throw err;
  }

  private finishSnapshot(peer: NodeId, ok: boolean): void {
    if (this.state === 'stopped') return;
    this.snapshots.delete(peer);
    if (!ok) this.reportUnreachable(peer);
    try {
      this.snapshotStatusHandler(peer, ok);
    } catch (err) {
      this.log.warn({ peer, err }, 'snapshot status handler threw');
    }
  }

  /** Hands a message to the core unless it was meant for another node (misrouted or stale). */
  private deliver(msg: Message): boolean {
    if (msg.to !== this.id) {
      this.log.warn(
        { self: this.id, from: msg.from, to: msg.to, type: msg.type },
        'dropping message addressed to another node',
      );
      return false;
    }
    try {
      this.messageHandler(msg);
    } catch (err) {
      this.log.warn({ from: msg.from, type: msg.type, err }, 'message handler threw');
    }
    return true;
  }

  private readonly handleSend = (
    call: grpc.ServerReadableStream<RaftMessagePb, object>,
    callback: grpc.sendUnaryData<object>,
  ): void => {
    const refused = this.guard.admit(call.metadata);
    if (refused) {
      this.log.warn({ err: refused.details }, 'refusing a peer of another cluster');
      callback(refused);
      return;
    }
    // Early headers tell the sender the stream reached this node, so it starts writing.
    call.sendMetadata(new grpc.Metadata());
    const sender = call.metadata.get(SENDER_HEADER)[0];
    if (typeof sender === 'string') this.links.get(sender)?.peerIsUp();
    let first = true;
    call.on('data', (pb: RaftMessagePb) => {
      let msg: Message;
      try {
        msg = decodeMessage(pb);
      } catch (err) {
        this.log.warn({ err }, 'dropping undecodable message');
        return;
      }
      if (first) {
        first = false;
        const address = this.guard.callerAddress(call.metadata);
        // A node that joins learns where its leader is from the leader's own calls.
        if (address !== undefined && this.addressOf(msg.from) === undefined)
          this.addresses.set(msg.from, address);
        this.links.get(msg.from)?.peerIsUp();
      }
      this.deliver(msg);
    });
    call.on('end', () => callback(null, ACK));
    // The sender went away; it will reopen, and there is nobody to answer.
    call.on('error', () => {});
  };

  private readonly handleInstallSnapshot = (
    call: grpc.ServerReadableStream<InstallSnapshotChunkPb, object>,
    callback: grpc.sendUnaryData<object>,
  ): void => {
    // grpc-js reads ahead into the stream's buffer up to its high-water mark (16 messages by
    // default) even while the stream is paused: one message is enough.
    const state = (call as unknown as { _readableState?: { highWaterMark: number } })
      ._readableState;
    if (state !== undefined) state.highWaterMark = 1;
    const refused = this.guard.admit(call.metadata);
    if (refused) {
      callback(refused);
      return;
    }
    this.receiver.receive(call, (err) => (err === null ? callback(null, ACK) : callback(err)));
  };

  private unary<T>(decode: (pb: T) => Message): grpc.handleUnaryCall<T, object> {
    return (call, callback) => {
      const refused = this.guard.admit(call.metadata);
      if (refused) return callback(refused);
      let msg: Message;
      try {
        msg = decode(call.request);
      } catch (err) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: (err as Error).message });
        return;
      }
      if (this.deliver(msg)) callback(null, ACK);
      else callback({ code: grpc.status.INVALID_ARGUMENT, details: `not addressed to ${this.id}` });
    };
  }
}
