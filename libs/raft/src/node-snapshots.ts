// RaftNode's snapshot work: taking a snapshot in the background while the Ready loop goes on,
// and restoring one, both a chunk at a time with a turn of the event loop between chunks.
import { asError } from '../../common/src/errors.js';
import type { Runtime, StateMachine } from './ports.js';
import type { Storage } from './storage.js';
import type { Snapshot, SnapshotMeta } from './types.js';

/** A snapshot given up: a newer one arrived from the leader, or the node stopped. */
export class SnapshotAbandoned extends Error {
  override readonly name = 'SnapshotAbandoned';
}

/** What became of a snapshot taken: stored, or dropped for a newer one stored meanwhile. */
export interface SnapshotTaken {
  readonly stored: boolean;
  readonly bytes: number;
  readonly seconds: number;
}

interface Task {
  abandoned: boolean;
  done: Promise<unknown>;
}

export class NodeSnapshots {
  private task: Task | null = null;

  constructor(
    private readonly rt: Runtime,
    private readonly storage: Storage,
    private readonly sm: StateMachine<unknown>,
  ) {}

  /** Whether a snapshot is being taken. */
  get busy(): boolean {
    return this.task !== null;
  }

  /**
   * Takes the state machine's point-in-time view now (as of the last applied entry, which must
   * be meta's) and saves it in the background: the state machine serialises a chunk, the storage
   * writes it, the event loop runs, and so on. Resolves once stored (or dropped: see storage's
   * saveSnapshot); rejects with SnapshotAbandoned if abandon() came first.
   */
  take(meta: SnapshotMeta, compactUpTo: number): Promise<SnapshotTaken> {
    if (this.task !== null) return Promise.reject(new Error('a snapshot is already being taken'));
    const started = this.rt.now();
    let view: Iterator<Uint8Array>;
    let first: IteratorResult<Uint8Array>;
    try {
      view = this.sm.snapshot()[Symbol.iterator]();
      // The first chunk at once, in the caller's turn: a generator whose body captures the state
      // before its first yield is a point-in-time view too.
      first = view.next();
    } catch (err) {
      return Promise.reject(asError(err));
    }
    const counted = { bytes: 0 };
    const task: Task = { abandoned: false, done: Promise.resolve() };
    const chunks = this.pull(view, first, () => task.abandoned, counted);
    const saved = this.storage.saveSnapshot(meta, chunks, compactUpTo).finally(() => {
      // Releases the view whether or not the storage read it to the end (or at all).
      view.return?.();
      if (this.task === task) this.task = null;
    });
    // Whoever took the snapshot observes its failure through `saved`; done only marks the end.
    task.done = saved.then(
      () => undefined,
      () => undefined,
    );
    this.task = task;
    return saved.then((stored) => {
      if (task.abandoned && !stored) throw new SnapshotAbandoned('snapshot abandoned');
      return { stored, bytes: counted.bytes, seconds: (this.rt.now() - started) / 1000 };
    });
  }

  /** Gives up the snapshot being taken, if any; resolves once its work has stopped. */
  abandon(): Promise<void> {
    const task = this.task;
    if (task === null) return Promise.resolve();
    task.abandoned = true;
    return task.done.then(() => undefined);
  }

  /**
   * Feeds the stored snapshot's chunks to the state machine's restore, with a turn of the event
   * loop after each. Rejects with SnapshotAbandoned once `stopped` says so.
   */
  async restore(snapshot: Snapshot, stopped: () => boolean): Promise<{ seconds: number }> {
    const started = this.rt.now();
    await this.sm.restore(this.paced(snapshot.data.chunks(), stopped), snapshot.meta);
    return { seconds: (this.rt.now() - started) / 1000 };
  }

  /** The view's chunks, each after the first pulled after a turn of the event loop. */
  private async *pull(
    view: Iterator<Uint8Array>,
    first: IteratorResult<Uint8Array>,
    abandoned: () => boolean,
    counted: { bytes: number },
  ): AsyncGenerator<Uint8Array> {
    for (let next = first; !next.done; next = view.next()) {
      counted.bytes += next.value.length;
      yield next.value;
      await this.turn();
      if (abandoned()) throw new SnapshotAbandoned('snapshot abandoned');
    }
  }

  private async *paced(
    chunks: AsyncIterable<Uint8Array>,
    stopped: () => boolean,
  ): AsyncGenerator<Uint8Array> {
    for await (const chunk of chunks) {
      // A stored chunk may be large (1 MiB): restoring a state machine's records from that
      // much at once held the event loop for 30-80 ms, so it is fed in slices, a turn apart.
      for (let at = 0; at < chunk.length; at += RESTORE_SLICE_BYTES) {
        yield chunk.subarray(at, at + RESTORE_SLICE_BYTES);
        await this.turn();
        if (stopped()) throw new SnapshotAbandoned('restore abandoned: the node stopped');
      }
    }
  }

  private turn(): Promise<void> {
    return new Promise((resolve) => this.rt.soon(resolve));
  }
}

/** The most of a snapshot a restore is fed between two turns of the event loop. */
const RESTORE_SLICE_BYTES = 128 * 1024;
