import fc from 'fast-check';
import { readAll, snapshotDataOf } from '../../src/snapshot-stream.js';
import { GrpcTransport, type GrpcTransportOptions } from '../../src/transport/index.js';
import {
  EntryType,
  type Entry,
  type Message,
  type NodeId,
  type Snapshot,
  type SnapshotData,
} from '../../src/types.js';

/** SnapshotData over bytes that tests can also see at once. */
export type BytesData = SnapshotData & { readonly raw: Uint8Array };

export function bytesData(raw: Uint8Array, chunkBytes?: number): BytesData {
  return { ...snapshotDataOf(raw, chunkBytes), raw };
}

/** A receiveSnapshot that keeps the bytes in memory (tests that need them whole). */
export async function receiveInMemory(
  _meta: unknown,
  chunks: AsyncIterable<Uint8Array>,
): Promise<BytesData> {
  return bytesData(await readAll(chunks));
}

const id = fc.string({ unit: 'grapheme', maxLength: 12 });
const num = fc.maxSafeNat();
const envelope = { from: id, to: id, term: num };

export const entryArb: fc.Arbitrary<Entry> = fc.record({
  index: num,
  term: num,
  type: fc.constantFrom(EntryType.Normal, EntryType.Noop, EntryType.Config),
  data: fc.uint8Array({ maxLength: 64 }),
});

const membershipArb = fc.record({
  index: num,
  members: fc.uniqueArray(
    fc.record({
      id: id.filter((s) => s !== ''),
      learner: fc.boolean(),
      address: fc.string({ maxLength: 20 }),
    }),
    { selector: (m) => m.id, maxLength: 6 },
  ),
});

/** Every Message variant, InstallSnapshot with its data as the receiving driver sees it. */
export const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant('AppendEntries' as const),
    ...envelope,
    prevLogIndex: num,
    prevLogTerm: num,
    entries: fc.array(entryArb, { maxLength: 8 }),
    leaderCommit: num,
  }),
  fc.record({
    type: fc.constant('AppendEntriesResponse' as const),
    ...envelope,
    success: fc.boolean(),
    matchIndex: num,
    rejectedIndex: num,
    conflictTerm: num,
    conflictIndex: num,
  }),
  fc.record({ type: fc.constant('Heartbeat' as const), ...envelope, leaderCommit: num, ctx: num }),
  fc.record({ type: fc.constant('HeartbeatResponse' as const), ...envelope, ctx: num }),
  fc.record({
    type: fc.constant('RequestVote' as const),
    ...envelope,
    lastLogIndex: num,
    lastLogTerm: num,
    preVote: fc.boolean(),
    transfer: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('RequestVoteResponse' as const),
    ...envelope,
    voteGranted: fc.boolean(),
    preVote: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('InstallSnapshot' as const),
    ...envelope,
    snapshot: fc.oneof(
      fc.record({ index: num, term: num }),
      fc.record({ index: num, term: num, membership: membershipArb }),
    ),
    data: fc.uint8Array({ maxLength: 4096 }).map((raw) => bytesData(raw)),
  }),
  fc.record({
    type: fc.constant('InstallSnapshotResponse' as const),
    ...envelope,
    matchIndex: num,
  }),
  fc.record({ type: fc.constant('TimeoutNow' as const), ...envelope }),
);

/** Byte arrays compared by content: decoded bytes are Buffers, originals plain Uint8Arrays. */
export function normalize(msg: Message): unknown {
  const bytes = (u: Uint8Array): number[] => Array.from(u);
  if (msg.type === 'AppendEntries') {
    return { ...msg, entries: msg.entries.map((e) => ({ ...e, data: bytes(e.data) })) };
  }
  if (msg.type === 'InstallSnapshot' && msg.data !== undefined) {
    return { ...msg, data: bytes((msg.data as BytesData).raw) };
  }
  return msg;
}

/** One message of every type from `from` to `to` (InstallSnapshot without data, as the core emits it). */
export function everyMessageType(from: NodeId, to: NodeId): Message[] {
  const e = { from, to, term: 7 };
  return [
    {
      type: 'AppendEntries',
      ...e,
      prevLogIndex: 10,
      prevLogTerm: 6,
      entries: [
        { index: 11, term: 7, type: EntryType.Noop, data: new Uint8Array(0) },
        { index: 12, term: 7, type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) },
      ],
      leaderCommit: 9,
    },
    {
      type: 'AppendEntriesResponse',
      ...e,
      success: false,
      matchIndex: 0,
      rejectedIndex: 10,
      conflictTerm: 5,
      conflictIndex: 8,
    },
    { type: 'Heartbeat', ...e, leaderCommit: 9, ctx: 42 },
    { type: 'HeartbeatResponse', ...e, ctx: 42 },
    { type: 'RequestVote', ...e, lastLogIndex: 12, lastLogTerm: 7, preVote: true, transfer: false },
    { type: 'RequestVote', ...e, lastLogIndex: 12, lastLogTerm: 7, preVote: false, transfer: true },
    { type: 'RequestVoteResponse', ...e, voteGranted: true, preVote: true },
    { type: 'InstallSnapshot', ...e, snapshot: { index: 100, term: 6 } },
    { type: 'InstallSnapshotResponse', ...e, matchIndex: 100 },
    { type: 'TimeoutNow', ...e },
  ];
}

export interface Harness {
  /** Shared by all transports of a test and filled in as they bind, so port 0 can be used. */
  readonly peers: Record<NodeId, string>;
  readonly warnings: { obj: object; msg: string }[];
  create(
    id: NodeId,
    extra?: Partial<GrpcTransportOptions>,
  ): { transport: GrpcTransport; received: Message[]; unreachable: NodeId[] };
  start(transport: GrpcTransport, id: NodeId): Promise<void>;
  stopAll(): Promise<void>;
}

export function harness(): Harness {
  const peers: Record<NodeId, string> = {};
  const warnings: { obj: object; msg: string }[] = [];
  const all: GrpcTransport[] = [];
  return {
    peers,
    warnings,
    create(nodeId, extra = {}) {
      const transport = new GrpcTransport({
        id: nodeId,
        listenAddress: '127.0.0.1:0',
        peers,
        readSnapshot: async (): Promise<Snapshot | null> => null,
        receiveSnapshot: receiveInMemory,
        logger: { warn: (obj, msg) => warnings.push({ obj, msg }) },
        ...extra,
      });
      all.push(transport);
      const received: Message[] = [];
      const unreachable: NodeId[] = [];
      transport.onMessage((m) => received.push(m));
      transport.onUnreachable((p) => unreachable.push(p));
      return { transport, received, unreachable };
    },
    async start(transport, nodeId) {
      await transport.start();
      peers[nodeId] = `127.0.0.1:${transport.port}`;
    },
    async stopAll() {
      await Promise.all(all.splice(0).map((t) => t.stop()));
    },
  };
}
