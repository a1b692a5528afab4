import fc from 'fast-check';
import {
  decodeMessage,
  encodeMessage,
  encodeSnapshotChunks,
  loadRaftProto,
  SnapshotChunkSequence,
  type InstallSnapshotChunkPb,
  type RaftMessagePb,
} from '../../src/transport/index.js';
import type { InstallSnapshot, Message, Snapshot } from '../../src/types.js';
import { bytesData, messageArb, normalize } from './fixtures.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const proto = loadRaftProto();
const sendMethod = proto.service['Send']!;
const chunkMethod = proto.service['InstallSnapshot']!;

/** Through the real protobuf wire format, exactly as the transport does it. */
async function roundTrip(msg: Message, chunkBytes: number): Promise<Message> {
  if (msg.type === 'InstallSnapshot') {
    const sequence = new SnapshotChunkSequence();
    const snapshot = { meta: msg.snapshot, data: msg.data ?? bytesData(new Uint8Array(0)) };
    const received: Uint8Array[] = [];
    for await (const chunk of encodeSnapshotChunks(msg, snapshot, chunkBytes)) {
      const wire: unknown = chunkMethod.requestDeserialize(proto.serializeChunk(chunk));
      received.push(sequence.push(wire as InstallSnapshotChunkPb));
    }
    return sequence.message(bytesData(new Uint8Array(Buffer.concat(received))));
  }
  const wire: unknown = sendMethod.requestDeserialize(proto.serializeMessage(encodeMessage(msg)));
  return decodeMessage(wire as RaftMessagePb);
}

describe('transport codec', () => {
  it('round-trips every message type through the wire format', async () => {
    await fc.assert(
      fc.asyncProperty(messageArb, fc.integer({ min: 1, max: 1500 }), async (msg, chunkBytes) => {
        expect(normalize(await roundTrip(msg, chunkBytes))).toEqual(normalize(msg));
      }),
      { numRuns: 500 },
    );
  });

  it('covers every message type in the arbitrary', () => {
    const seen = new Set(fc.sample(messageArb, 2000).map((m) => m.type));
    expect([...seen].sort()).toEqual([
      'AppendEntries',
      'AppendEntriesResponse',
      'Heartbeat',
      'HeartbeatResponse',
      'InstallSnapshot',
      'InstallSnapshotResponse',
      'RequestVote',
      'RequestVoteResponse',
      'TimeoutNow',
    ]);
  });

  it('keeps uint64 values exact up to 2^53 - 1', async () => {
    const max = Number.MAX_SAFE_INTEGER;
    const msg: Message = { type: 'HeartbeatResponse', from: 'a', to: 'b', term: max, ctx: max };
    expect(await roundTrip(msg, 1)).toEqual(msg);
  });

  it('splits snapshots into chunks as they are read, with header only on the first', async () => {
    const msg: InstallSnapshot = {
      type: 'InstallSnapshot',
      from: 'a',
      to: 'b',
      term: 3,
      snapshot: { index: 1, term: 1 },
    };
    const data = new Uint8Array(10).map((_, i) => i);
    // Stored in chunks of 3: re-cut to 4 on the way out.
    const snapshot = { meta: { index: 9, term: 2 }, data: bytesData(data, 3) };
    const chunks = await collect(encodeSnapshotChunks(msg, snapshot, 4));
    expect(chunks.map((c) => [c.offset, c.data.length, c.done])).toEqual([
      [0, 4, false],
      [4, 4, false],
      [8, 2, true],
    ]);
    expect(chunks[0]).toMatchObject({ from: 'a', to: 'b', term: 3, meta: { index: 9, term: 2 } });
    expect(chunks[1]).toMatchObject({ from: '', to: '', term: 0, meta: null });
    const empty = await collect(
      encodeSnapshotChunks(
        msg,
        { meta: { index: 9, term: 2 }, data: bytesData(data.subarray(0, 0)) },
        4,
      ),
    );
    expect(empty).toHaveLength(1);
    expect(empty[0]!.done).toBe(true);
    // Data that is not the length it announced fails the transfer rather than mislead it.
    const lying = (bytes: number): Snapshot => ({
      meta: { index: 9, term: 2 },
      data: { bytes, chunks: () => bytesData(data).chunks() },
    });
    await expect(collect(encodeSnapshotChunks(msg, lying(8), 4))).rejects.toThrow(/longer/);
    await expect(collect(encodeSnapshotChunks(msg, lying(12), 4))).rejects.toThrow(/ended at 10/);
  });

  it('rejects gaps, reordering and chunks after the last', () => {
    const first: InstallSnapshotChunkPb = {
      from: 'a',
      to: 'b',
      term: 1,
      meta: { index: 1, term: 1 },
      offset: 0,
      data: new Uint8Array(4),
      done: false,
    };
    const gap = new SnapshotChunkSequence();
    gap.push(first);
    expect(() => gap.push({ ...first, offset: 5 })).toThrow(/offset 5, expected 4/);

    const noHeader = new SnapshotChunkSequence();
    expect(() => noHeader.push({ ...first, meta: null })).toThrow(/no meta/);

    const late = new SnapshotChunkSequence();
    late.push({ ...first, done: true });
    expect(() => late.push({ ...first, offset: 4 })).toThrow(/after the final/);

    const unfinished = new SnapshotChunkSequence();
    unfinished.push(first);
    expect(() => unfinished.message(bytesData(new Uint8Array(4)))).toThrow(/incomplete/);
  });

  it('rejects a message without a known kind and entries of unknown type', () => {
    expect(() => decodeMessage({})).toThrow(/unknown or missing/);
    const bad = {
      msg: 'append_entries',
      append_entries: {
        from: 'a',
        to: 'b',
        term: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        leader_commit: 0,
        entries: [{ index: 1, term: 1, type: 9, data: new Uint8Array(0) }],
      },
    };
    expect(() => decodeMessage(bad)).toThrow(/unknown entry type 9/);
  });
});
