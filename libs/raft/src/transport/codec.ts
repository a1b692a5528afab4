// Conversion between the engine's Message union and the plain objects @grpc/proto-loader
// serializes (keepCase, longs as Number, defaults, oneofs). uint64 fields become JS numbers:
// exact up to 2^53, which terms, indexes and ctx never reach (see types.ts).
import {
  EntryType,
  type AppendEntries,
  type AppendEntriesResponse,
  type Heartbeat,
  type HeartbeatResponse,
  type InstallSnapshot,
  type InstallSnapshotResponse,
  type Message,
  type RequestVote,
  type RequestVoteResponse,
  type Snapshot,
  type SnapshotData,
  type SnapshotMeta,
  type TimeoutNow,
} from '../types.js';
import { decodeMembers, encodeMembers } from '../membership.js';
import { rechunk } from '../snapshot-stream.js';

/** Field names match Entry exactly, so entries cross the codec without being copied. */
export interface EntryPb {
  index: number;
  term: number;
  type: number;
  data: Uint8Array;
}

interface EnvelopePb {
  from: string;
  to: string;
  term: number;
}

export interface AppendEntriesPb extends EnvelopePb {
  prev_log_index: number;
  prev_log_term: number;
  entries: readonly EntryPb[];
  leader_commit: number;
}

export interface AppendEntriesResponsePb extends EnvelopePb {
  success: boolean;
  match_index: number;
  rejected_index: number;
  conflict_term: number;
  conflict_index: number;
}

export interface HeartbeatPb extends EnvelopePb {
  leader_commit: number;
  ctx: number;
}

export interface HeartbeatResponsePb extends EnvelopePb {
  ctx: number;
}

export interface RequestVotePb extends EnvelopePb {
  last_log_index: number;
  last_log_term: number;
  pre_vote: boolean;
  transfer: boolean;
}

export interface RequestVoteResponsePb extends EnvelopePb {
  vote_granted: boolean;
  pre_vote: boolean;
}

export interface InstallSnapshotResponsePb extends EnvelopePb {
  match_index: number;
}

export type TimeoutNowPb = EnvelopePb;

export interface RaftMessagePb {
  append_entries?: AppendEntriesPb | null;
  append_entries_response?: AppendEntriesResponsePb | null;
  heartbeat?: HeartbeatPb | null;
  heartbeat_response?: HeartbeatResponsePb | null;
  request_vote?: RequestVotePb | null;
  request_vote_response?: RequestVoteResponsePb | null;
  install_snapshot_response?: InstallSnapshotResponsePb | null;
  timeout_now?: TimeoutNowPb | null;
  /** Set by the decoder (oneofs: true): which member is present. */
  msg?: string;
}

export interface SnapshotMetaPb {
  index: number;
  term: number;
  /** Absent or empty: no membership (a sender that predates membership changes). */
  membership?: Uint8Array;
  membership_index?: number;
}

export function encodeSnapshotMeta(meta: SnapshotMeta): SnapshotMetaPb {
  const m = meta.membership;
  if (!m) return { index: meta.index, term: meta.term };
  return {
    index: meta.index,
    term: meta.term,
    membership: encodeMembers(m.members),
    membership_index: m.index,
  };
}

export function decodeSnapshotMeta(pb: SnapshotMetaPb): SnapshotMeta {
  if (!pb.membership || pb.membership.length === 0) return { index: pb.index, term: pb.term };
  let members;
  try {
    members = decodeMembers(pb.membership);
  } catch (e) {
    throw new CodecError(`snapshot membership: ${(e as Error).message}`);
  }
  return {
    index: pb.index,
    term: pb.term,
    membership: { index: pb.membership_index ?? 0, members },
  };
}

export interface InstallSnapshotChunkPb extends EnvelopePb {
  meta: SnapshotMetaPb | null;
  offset: number;
  data: Uint8Array;
  done: boolean;
}

/** Messages that travel on the ordered Send stream; InstallSnapshot has its own stream. */
export type StreamMessage = Exclude<Message, InstallSnapshot>;

export class CodecError extends Error {
  override readonly name = 'CodecError';
}

export function encodeMessage(msg: StreamMessage): RaftMessagePb {
  switch (msg.type) {
    case 'AppendEntries':
      return { append_entries: encodeAppendEntries(msg) };
    case 'AppendEntriesResponse':
      return {
        append_entries_response: {
          from: msg.from,
          to: msg.to,
          term: msg.term,
          success: msg.success,
          match_index: msg.matchIndex,
          rejected_index: msg.rejectedIndex,
          conflict_term: msg.conflictTerm,
          conflict_index: msg.conflictIndex,
        },
      };
    case 'Heartbeat':
      return { heartbeat: encodeHeartbeat(msg) };
    case 'HeartbeatResponse':
      return { heartbeat_response: { from: msg.from, to: msg.to, term: msg.term, ctx: msg.ctx } };
    case 'RequestVote':
      return { request_vote: encodeRequestVote(msg) };
    case 'RequestVoteResponse':
      return {
        request_vote_response: {
          from: msg.from,
          to: msg.to,
          term: msg.term,
          vote_granted: msg.voteGranted,
          pre_vote: msg.preVote,
        },
      };
    case 'InstallSnapshotResponse':
      return {
        install_snapshot_response: {
          from: msg.from,
          to: msg.to,
          term: msg.term,
          match_index: msg.matchIndex,
        },
      };
    case 'TimeoutNow':
      return { timeout_now: encodeTimeoutNow(msg) };
    default:
      throw new CodecError(
        `cannot encode message type ${JSON.stringify((msg as { type: unknown }).type)}`,
      );
  }
}

export function encodeAppendEntries(msg: AppendEntries): AppendEntriesPb {
  return {
    from: msg.from,
    to: msg.to,
    term: msg.term,
    prev_log_index: msg.prevLogIndex,
    prev_log_term: msg.prevLogTerm,
    entries: msg.entries,
    leader_commit: msg.leaderCommit,
  };
}

export function encodeHeartbeat(msg: Heartbeat): HeartbeatPb {
  return {
    from: msg.from,
    to: msg.to,
    term: msg.term,
    leader_commit: msg.leaderCommit,
    ctx: msg.ctx,
  };
}

export function encodeRequestVote(msg: RequestVote): RequestVotePb {
  return {
    from: msg.from,
    to: msg.to,
    term: msg.term,
    last_log_index: msg.lastLogIndex,
    last_log_term: msg.lastLogTerm,
    pre_vote: msg.preVote,
    transfer: msg.transfer,
  };
}

export function encodeTimeoutNow(msg: TimeoutNow): TimeoutNowPb {
  return { from: msg.from, to: msg.to, term: msg.term };
}

/** Throws CodecError when no known member is set (e.g. a newer peer's message type). */
export function decodeMessage(pb: RaftMessagePb): StreamMessage {
  switch (pb.msg) {
    case 'append_entries':
      return decodeAppendEntries(present(pb.append_entries));
    case 'append_entries_response': {
      const m = present(pb.append_entries_response);
      return {
        type: 'AppendEntriesResponse',
        from: m.from,
        to: m.to,
        term: m.term,
        success: m.success,
        matchIndex: m.match_index,
        rejectedIndex: m.rejected_index,
        conflictTerm: m.conflict_term,
        conflictIndex: m.conflict_index,
      } satisfies AppendEntriesResponse;
    }
    case 'heartbeat':
      return decodeHeartbeat(present(pb.heartbeat));
    case 'heartbeat_response': {
      const m = present(pb.heartbeat_response);
      return {
        type: 'HeartbeatResponse',
        from: m.from,
        to: m.to,
        term: m.term,
        ctx: m.ctx,
      } satisfies HeartbeatResponse;
    }
    case 'request_vote':
      return decodeRequestVote(present(pb.request_vote));
    case 'request_vote_response': {
      const m = present(pb.request_vote_response);
      return {
        type: 'RequestVoteResponse',
        from: m.from,
        to: m.to,
        term: m.term,
        voteGranted: m.vote_granted,
        preVote: m.pre_vote,
      } satisfies RequestVoteResponse;
    }
    case 'install_snapshot_response': {
      const m = present(pb.install_snapshot_response);
      return {
        type: 'InstallSnapshotResponse',
        from: m.from,
        to: m.to,
        term: m.term,
        matchIndex: m.match_index,
      } satisfies InstallSnapshotResponse;
    }
    case 'timeout_now':
      return decodeTimeoutNow(present(pb.timeout_now));
    default:
      throw new CodecError(`unknown or missing message kind ${String(pb.msg)}`);
  }
}

const ENTRY_TYPES: ReadonlySet<number> = new Set([
  EntryType.Normal,
  EntryType.Noop,
  EntryType.Config,
]);

export function decodeAppendEntries(m: AppendEntriesPb): AppendEntries {
  // Decoded entries already have Entry's shape; only the enum needs checking.
  for (const e of m.entries) {
    if (!ENTRY_TYPES.has(e.type)) {
      throw new CodecError(`unknown entry type ${e.type} at index ${e.index}`);
    }
  }
  return {
    type: 'AppendEntries',
    from: m.from,
    to: m.to,
    term: m.term,
    prevLogIndex: m.prev_log_index,
    prevLogTerm: m.prev_log_term,
    entries: m.entries,
    leaderCommit: m.leader_commit,
  };
}

export function decodeHeartbeat(m: HeartbeatPb): Heartbeat {
  return {
    type: 'Heartbeat',
    from: m.from,
    to: m.to,
    term: m.term,
    leaderCommit: m.leader_commit,
    ctx: m.ctx,
  };
}

export function decodeRequestVote(m: RequestVotePb): RequestVote {
  return {
    type: 'RequestVote',
    from: m.from,
    to: m.to,
    term: m.term,
    lastLogIndex: m.last_log_index,
    lastLogTerm: m.last_log_term,
    preVote: m.pre_vote,
    transfer: m.transfer,
  };
}

export function decodeTimeoutNow(m: TimeoutNowPb): TimeoutNow {
  return { type: 'TimeoutNow', from: m.from, to: m.to, term: m.term };
}

function present<T>(value: T | null | undefined): T {
  if (value == null) throw new CodecError('oneof member announced but absent');
  return value;
}

/**
 * Cuts a snapshot into chunks as its data is read: at most `chunkSize` bytes each, never more
 * than one held at once. The header (from/to/term) comes from the core's message, the meta from
 * the stored snapshot: the data must be described by the meta it was taken at, which may be
 * newer than the one the core saw when it decided to send. Fails if the data does not have the
 * length it announced.
 */
export async function* encodeSnapshotChunks(
  header: { from: string; to: string; term: number },
  snapshot: Snapshot,
  chunkSize: number,
): AsyncGenerator<InstallSnapshotChunkPb> {
  const total = snapshot.data.bytes;
  let offset = 0;
  const chunk = (data: Uint8Array): InstallSnapshotChunkPb => {
    const first = offset === 0;
    return {
      from: first ? header.from : '',
      to: first ? header.to : '',
      term: first ? header.term : 0,
      meta: first ? encodeSnapshotMeta(snapshot.meta) : null,
      offset,
      data,
      done: offset + data.length === total,
    };
  };
  // An empty snapshot is one empty chunk: the header must travel.
  if (total === 0) yield chunk(new Uint8Array(0));
  for await (const piece of rechunk(snapshot.data.chunks(), chunkSize)) {
    if (offset + piece.length > total) {
      throw new CodecError(`snapshot data longer than the ${total} bytes it announced`);
    }
    yield chunk(piece);
    offset += piece.length;
  }
  if (offset !== total) {
    throw new CodecError(`snapshot data ended at ${offset} of the ${total} bytes it announced`);
  }
}

/**
 * Checks the chunks of one InstallSnapshot stream as they arrive (rejecting gaps, reordering
 * and a missing header) and hands out their data, keeping none of it.
 */
export class SnapshotChunkSequence {
  private header: InstallSnapshotChunkPb | null = null;
  private received = 0;
  private finished = false;

  /** Checks the next chunk and returns its data. */
  push(chunk: InstallSnapshotChunkPb): Uint8Array {
    if (this.finished) throw new CodecError('chunk after the final chunk');
    if (chunk.offset !== this.received) {
      throw new CodecError(`chunk at offset ${chunk.offset}, expected ${this.received}`);
    }
    if (this.header === null) {
      if (chunk.meta === null) throw new CodecError('first snapshot chunk has no meta');
      this.header = chunk;
    }
    this.received += chunk.data.length;
    this.finished = chunk.done;
    return chunk.data;
  }

  /** The header of the transfer, available after the first chunk. */
  get to(): string | null {
    return this.header?.to ?? null;
  }

  get from(): string | null {
    return this.header?.from ?? null;
  }

  get meta(): SnapshotMeta | null {
    const m = this.header?.meta;
    return m == null ? null : decodeSnapshotMeta(m);
  }

  get bytes(): number {
    return this.received;
  }

  /** The final chunk was accepted. */
  get done(): boolean {
    return this.finished;
  }

  /** The message the transfer carried, with the data the receiver staged from its chunks. */
  message(data: SnapshotData): InstallSnapshot {
    const h = this.header;
    if (h === null || h.meta === null || !this.finished) {
      throw new CodecError('snapshot transfer incomplete');
    }
    return {
      type: 'InstallSnapshot',
      from: h.from,
      to: h.to,
      term: h.term,
      snapshot: decodeSnapshotMeta(h.meta),
      data,
    };
  }
}
