import fc from 'fast-check';
import {
  decodeMessage,
  encodeMessage,
  encodeSnapshotChunks,
  loadRaftProto,
  InstallSnapshotAssembler,
  type InstallSnapshotChunkPb,
  type RaftMessagePb,
} from '../../src/transport/index.js';
import type { InstallSnapshot, Message } from '../../src/types.js';
import { messageArb, normalize } from './fixtures.js';

const proto = loadRaftProto();
const sendMethod = proto.service['Send']!;
const chunkMethod = proto.service['InstallSnapshot']!;

/** Through the real protobuf wire format, exactly as the transport does it. */
function roundTrip(msg: Message, chunkBytes: number): Message {
  if (msg.type === 'InstallSnapshot') {
    const assembler = new InstallSnapshotAssembler();
    const snapshot = { meta: msg.snapshot, data: msg.data ?? new Uint8Array(0) };
    for (const chunk of encodeSnapshotChunks(msg, snapshot, chunkBytes)) {
      const wire: unknown = chunkMethod.requestDeserialize(proto.serializeChunk(chunk));
      assembler.push(wire as InstallSnapshotChunkPb);
    }
    return assembler.message();
  }
  const wire: unknown = sendMethod.requestDeserialize(proto.serializeMessage(encodeMessage(msg)));
  return decodeMessage(wire as RaftMessagePb);
}

describe('transport codec', () => {
  it('round-trips every message type through the wire format', () => {
    fc.assert(
      fc.property(messageArb, fc.integer({ min: 1, max: 1500 }), (msg, chunkBytes) => {
        expect(normalize(roundTrip(msg, chunkBytes))).toEqual(normalize(msg));
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

  it('keeps uint64 values exact up to 2^53 - 1', () => {
    const max = Number.MAX_SAFE_INTEGER;
    const msg: Message = { type: 'HeartbeatResponse', from: 'a', to: 'b', term: max, ctx: max };
    expect(roundTrip(msg, 1)).toEqual(msg);
  });

  it('splits snapshots into chunks with header only on the first', () => {
    const msg: InstallSnapshot = {
      type: 'InstallSnapshot',
      from: 'a',
      to: 'b',
      term: 3,
      snapshot: { index: 1, term: 1 },
    };
    const data = new Uint8Array(10).map((_, i) => i);
    const chunks = [...encodeSnapshotChunks(msg, { meta: { index: 9, term: 2 }, data }, 4)];
    expect(chunks.map((c) => [c.offset, c.data.length, c.done])).toEqual([
      [0, 4, false],
      [4, 4, false],
      [8, 2, true],
    ]);
    expect(chunks[0]).toMatchObject({ from: 'a', to: 'b', term: 3, meta: { index: 9, term: 2 } });
    expect(chunks[1]).toMatchObject({ from: '', to: '', term: 0, meta: null });
    const empty = [
      ...encodeSnapshotChunks(msg, { meta: { index: 9, term: 2 }, data: data.subarray(0, 0) }, 4),
    ];
    expect(empty).toHaveLength(1);
    expect(empty[0]!.done).toBe(true);
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
    const gap = new InstallSnapshotAssembler();
    gap.push(first);
    expect(() => gap.push({ ...first, offset: 5 })).toThrow(/offset 5, expected 4/);

    const noHeader = new InstallSnapshotAssembler();
    expect(() => noHeader.push({ ...first, meta: null })).toThrow(/no meta/);

    const late = new InstallSnapshotAssembler();
    late.push({ ...first, done: true });
    expect(() => late.push({ ...first, offset: 4 })).toThrow(/after the final/);

    const unfinished = new InstallSnapshotAssembler();
    unfinished.push(first);
    expect(() => unfinished.message()).toThrow(/incomplete/);
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
