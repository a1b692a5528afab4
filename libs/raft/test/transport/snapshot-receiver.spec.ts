import { asError } from '../../../common/src/errors.js';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { snapshotDataOf } from '../../src/snapshot-stream.js';
import type { InstallSnapshotChunkPb } from '../../src/transport/codec.js';
import {
  MAX_INBOUND_SNAPSHOTS,
  RECEIVE_HIGH_WATER_BYTES,
  SnapshotReceiver,
  type Reply,
} from '../../src/transport/snapshot-receiver.js';
import type { InstallSnapshot } from '../../src/types.js';

const KiB = 1024;

/** A grpc-js server stream as the receiver sees it: the test emits its events. */
class FakeStream extends EventEmitter {
  paused = 0;
  resumed = 0;
  pause(): void {
    this.paused++;
  }
  resume(): void {
    this.resumed++;
  }
}

function chunk(offset: number, bytes: number, done = false, from = 'a'): InstallSnapshotChunkPb {
  const first = offset === 0;
  return {
    from: first ? from : '',
    to: first ? 'b' : '',
    term: first ? 3 : 0,
    meta: first ? { index: 40, term: 2 } : null,
    offset,
    data: new Uint8Array(bytes).fill(offset & 0xff),
    done,
  };
}

/** What a storage staged of one transfer; take(n) lets it read n more chunks. */
interface FakeStorage {
  staged: number[];
  take(n: number): Promise<void>;
}

/**
 * A receiver whose storage reads chunks only when the test says. Like a real storage, it fails
 * when the stream fails, and finishes once it read the end.
 */
function setup() {
  const delivered: InstallSnapshot[] = [];
  const storages: FakeStorage[] = [];
  const receiver = new SnapshotReceiver({
    id: 'b',
    receiveSnapshot: (_meta, chunks) =>
      new Promise((resolve, reject) => {
        const it = chunks[Symbol.asyncIterator]();
        const storage: FakeStorage = {
          staged: [],
          take: async (n) => {
            for (let i = 0; i < n; i++) {
              const r = await it.next().catch((err: unknown) => {
                reject(asError(err));
                throw err;
              });
              if (r.done) return resolve(snapshotDataOf(new Uint8Array(0)));
              storage.staged.push(r.value.length);
            }
          },
        };
        storages.push(storage);
      }),
    deliver: (m) => delivered.push(m),
    stopped: () => false,
    warn: () => {},
  });
  const replies: (Parameters<Reply>[0] | 'pending')[] = [];
  const open = (): { stream: FakeStream; index: number } => {
    const stream = new FakeStream();
    const index = replies.push('pending') - 1;
    receiver.receive(stream, (err) => (replies[index] = err));
    return { stream, index };
  };
  return { receiver, delivered, storages, replies, open };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('SnapshotReceiver', () => {
  test('pauses the stream while its storage is behind, resumes when it caught up, then delivers', async () => {
    const { receiver, delivered, storages, replies, open } = setup();
    const { stream } = open();
    const size = 400 * KiB;
    stream.emit('data', chunk(0, size));
    stream.emit('data', chunk(size, size));
    expect(stream.paused).toBe(0);
    // The third chunk takes what waits past the high-water mark: the stream is paused.
    stream.emit('data', chunk(2 * size, size));
    expect(3 * size).toBeGreaterThanOrEqual(RECEIVE_HIGH_WATER_BYTES);
    expect(stream.paused).toBe(1);
    await turn();
    const storage = storages[0]!;
    await storage.take(1);
    // Two chunks still wait: below the mark again, so the stream goes on.
    expect(stream.resumed).toBe(1);
    stream.emit('data', chunk(3 * size, 10, true));
    stream.emit('end');
    await storage.take(10);
    await turn();
    await turn();
    expect(storage.staged).toEqual([size, size, size, 10]);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ from: 'a', to: 'b', term: 3, snapshot: { index: 40 } });
    expect(replies).toEqual([null]);
    expect(receiver.stats).toEqual({ count: 1, pauses: 1, maxWaitingBytes: 3 * size });
  });

  test('rejects a misaddressed or broken stream, and the storage drops what it staged', async () => {
    const { delivered, storages, replies, open } = setup();
    open().stream.emit('data', { ...chunk(0, 10), to: 'c' });
    expect(replies[0]).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(storages).toHaveLength(0);

    const gap = open();
    gap.stream.emit('data', chunk(0, 10));
    gap.stream.emit('data', chunk(11, 10));
    expect(replies[1]).toMatchObject({ details: 'chunk at offset 11, expected 10' });

    const short = open();
    short.stream.emit('data', chunk(0, 10));
    short.stream.emit('end');
    expect(replies[2]).toMatchObject({ details: /ended before its final chunk/ });

    const cancelled = open();
    cancelled.stream.emit('data', chunk(0, 10));
    cancelled.stream.emit('cancelled');
    await turn();
    for (const storage of storages) await expect(storage.take(5)).rejects.toThrow();
    expect(delivered).toEqual([]);
  });

  test('a new transfer from a sender replaces its old one; other senders are bounded', async () => {
    const { storages, replies, open } = setup();
    const old = open();
    old.stream.emit('data', chunk(0, 10));
    const fresh = open();
    fresh.stream.emit('data', chunk(0, 10));
    await turn();
    await expect(storages[0]!.take(2)).rejects.toThrow(/replaced by a newer/);
    expect(replies[0]).toMatchObject({ code: grpc.status.UNAVAILABLE });
    for (let i = 1; i < MAX_INBOUND_SNAPSHOTS; i++)
      open().stream.emit('data', chunk(0, 1, false, `p${i}`));
    const refused = open();
    refused.stream.emit('data', chunk(0, 1, false, 'one-too-many'));
    expect(replies[refused.index]).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
  });
});
