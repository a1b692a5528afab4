// The receiving end of InstallSnapshot streams: chunks go to the node's storage as they arrive,
// and the stream is paused while the storage is behind, so that memory holds about one chunk
// whatever the snapshot's size.
import * as grpc from '@grpc/grpc-js';
import { ChunkQueue } from '../snapshot-stream.js';
import type { InstallSnapshot, NodeId, SnapshotData, SnapshotMeta } from '../types.js';
import { SnapshotChunkSequence, type InstallSnapshotChunkPb } from './codec.js';

/** Snapshot bytes received and not yet written before the stream is paused. */
export const RECEIVE_HIGH_WATER_BYTES = 1 << 20;
/** Inbound transfers at once (one per sender; a new one replaces the sender's old one). */
export const MAX_INBOUND_SNAPSHOTS = 8;

/** The part of grpc-js's server stream a transfer uses. */
export interface ChunkStream {
  on(event: 'data', listener: (chunk: InstallSnapshotChunkPb) => void): unknown;
  on(event: 'end' | 'cancelled', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** The answer to the stream's call: null for success. */
export type Reply = (err: { code: grpc.status; details: string } | null) => void;

export interface SnapshotReceiverOptions {
  readonly id: NodeId;
  /** Stores the chunks as they come (Storage.receiveSnapshot). */
  readonly receiveSnapshot: (
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ) => Promise<SnapshotData>;
  /** Steps the complete snapshot into the node. */
  readonly deliver: (msg: InstallSnapshot) => void;
  /** The transport stopped: a snapshot staged now is not delivered. */
  readonly stopped: () => boolean;
  readonly warn: (obj: object, msg: string) => void;
}

export class SnapshotReceiver {
  /** Sender -> the chunks of its transfer under way. */
  private readonly inbound = new Map<NodeId, ChunkQueue>();
  /**
   * Snapshots received; how often a transfer was paused for its storage to catch up; and the
   * most bytes one held waiting to be written (the memory it cost).
   */
  readonly stats = { count: 0, pauses: 0, maxWaitingBytes: 0 };

  constructor(private readonly opts: SnapshotReceiverOptions) {}

  /**
   * Receives one stream: each chunk is checked and handed to the storage; once the storage has
   * all of them, the InstallSnapshot is delivered with the staged data and the call answered.
   */
  receive(call: ChunkStream, reply: Reply): void {
    const sequence = new SnapshotChunkSequence();
    let queue: ChunkQueue | null = null;
    let settled = false;
    const answer = (err: Parameters<Reply>[0]): void => {
      if (settled) return;
      settled = true;
      reply(err);
    };
    const fail = (details: string, code = grpc.status.INVALID_ARGUMENT): void => {
      queue?.fail(new Error(details));
      if (settled) return;
      this.opts.warn({ self: this.opts.id, details }, 'rejecting snapshot transfer');
      answer({ code, details });
    };
    call.on('data', (chunk) => {
      if (settled) return;
      let data: Uint8Array;
      try {
        data = sequence.push(chunk);
      } catch (err) {
        fail((err as Error).message);
        return;
      }
      if (queue === null) {
        // Checked on the first chunk so a misrouted snapshot is not received at all.
        if (sequence.to !== this.opts.id) {
          fail(`snapshot addressed to ${sequence.to}, not ${this.opts.id}`);
          return;
        }
        queue = this.start(sequence, call, fail, () => answer(null));
        if (queue === null) return;
      }
      if (data.length > 0 && !queue.push(data)) {
        this.stats.pauses++;
        call.pause();
      }
      if (sequence.done) queue.end();
    });
    call.on('end', () => {
      if (!sequence.done) fail('snapshot stream ended before its final chunk');
    });
    // The sender went away (or gave up): what was staged is dropped.
    const broken = (err: Error): void => {
      settled = true;
      queue?.fail(err);
    };
    call.on('error', broken);
    call.on('cancelled', () => broken(new Error('snapshot transfer cancelled by the sender')));
  }

  /** Fails every transfer under way. */
  stop(): void {
    for (const queue of this.inbound.values()) queue.fail(new Error('transport stopped'));
    this.inbound.clear();
  }

  /** Starts staging one transfer; null (after failing it) if too many are under way. */
  private start(
    sequence: SnapshotChunkSequence,
    call: ChunkStream,
    fail: (details: string, code: grpc.status) => void,
    acknowledge: () => void,
  ): ChunkQueue | null {
    const from = sequence.from ?? '';
    // The sender runs one transfer to us at a time: an older one of its own is dead.
    this.inbound.get(from)?.fail(new Error(`replaced by a newer snapshot transfer from ${from}`));
    this.inbound.delete(from);
    if (this.inbound.size >= MAX_INBOUND_SNAPSHOTS) {
      fail('too many snapshot transfers under way', grpc.status.RESOURCE_EXHAUSTED);
      return null;
    }
    const queue = new ChunkQueue(RECEIVE_HIGH_WATER_BYTES);
    queue.onDrain = () => call.resume();
    this.inbound.set(from, queue);
    const done = (): void => {
      if (this.inbound.get(from) === queue) this.inbound.delete(from);
      this.stats.maxWaitingBytes = Math.max(this.stats.maxWaitingBytes, queue.maxWaitingBytes);
    };
    this.opts.receiveSnapshot(sequence.meta!, queue).then(
      (data) => {
        done();
        if (this.opts.stopped()) return;
        this.stats.count++;
        this.opts.deliver(sequence.message(data));
        acknowledge();
      },
      (err: Error) => {
        done();
        fail(`snapshot not received: ${err.message}`, grpc.status.UNAVAILABLE);
      },
    );
    return queue;
  }
}
