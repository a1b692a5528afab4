// handleReady: the one encoding of the Ready contract, shared by RaftNode and the core harness.
import { handleReady, type Ready, type ReadyHandler } from '../../src/ready.js';
import { snapshotDataOf } from '../../src/snapshot-stream.js';
import { type Entry, EntryType, type Message, Role } from '../../src/types.js';

const ent = (index: number, term = 2): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: Uint8Array.of(index),
});

const msg = (type: 'AppendEntries' | 'AppendEntriesResponse' | 'RequestVoteResponse'): Message =>
  type === 'AppendEntries'
    ? {
        type,
        from: 'a',
        to: 'b',
        term: 2,
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [],
        leaderCommit: 0,
      }
    : type === 'AppendEntriesResponse'
      ? {
          type,
          from: 'a',
          to: 'b',
          term: 2,
          success: true,
          matchIndex: 1,
          rejectedIndex: 0,
          conflictTerm: 0,
          conflictIndex: 0,
        }
      : { type, from: 'a', to: 'b', term: 2, voteGranted: true, preVote: false };

function ready(over: Partial<Ready> = {}): Ready {
  return {
    entries: [],
    messages: [],
    committedEntries: [],
    readStates: [],
    droppedReads: [],
    ...over,
  };
}

/** A handler that logs each call; persist returns what `write` says. */
function recorder(
  write: () => void | Promise<void> = () => {},
  stopped = () => false,
  restore: () => void | Promise<void> = () => {},
) {
  const calls: string[] = [];
  const h: ReadyHandler = {
    softState: (s) => calls.push(`soft ${s.role}`),
    send: (m) => calls.push(`send ${m.type}`),
    persist: (b) => {
      calls.push(`persist sync=${b.sync} entries=${b.entries?.length ?? 0}`);
      return write();
    },
    stopped,
    restore: (s) => {
      calls.push(`restore ${s.meta.index}`);
      return restore();
    },
    apply: (e) => calls.push(`apply ${e.index}`),
    reads: (d, c) => calls.push(`reads dropped=${d.join()} confirmed=${c.map((r) => r.id).join()}`),
  };
  const core = { advance: () => calls.push('advance') };
  return { calls, h, core };
}

const full = ready({
  softState: { role: Role.Leader, leader: 'a', term: 2 },
  hardState: { term: 2, vote: 'a', commit: 1 },
  snapshot: { meta: { index: 1, term: 1 }, data: snapshotDataOf(Uint8Array.of(0)) },
  entries: [ent(2)],
  messages: [msg('AppendEntriesResponse'), msg('AppendEntries'), msg('RequestVoteResponse')],
  committedEntries: [ent(2)],
  readStates: [{ id: 7, index: 2 }],
  droppedReads: [6],
});

describe('handleReady', () => {
  test('carries out a Ready in the contract order', () => {
    const { calls, h, core } = recorder();
    expect(handleReady(core, full, { term: 1, vote: '' }, h)).toBeUndefined();
    expect(calls).toEqual([
      'soft leader',
      'send AppendEntries', // a leader's appends may go before its own write
      'persist sync=true entries=1',
      'send AppendEntriesResponse', // answers and votes wait for the write
      'send RequestVoteResponse',
      'restore 1',
      'apply 2',
      'reads dropped=6 confirmed=7',
      'advance',
    ]);
  });

  test('with asynchronous storage, nothing after the write happens before it completes', async () => {
    let complete: () => void = () => {};
    const { calls, h, core } = recorder(() => new Promise<void>((r) => (complete = r)));
    const done = handleReady(core, full, { term: 1, vote: '' }, h);
    await Promise.resolve();
    expect(calls.at(-1)).toBe('persist sync=true entries=1');
    complete();
    await done;
    expect(calls.at(-1)).toBe('advance');
  });

  test('a driver stopped during the write abandons the rest of the Ready', async () => {
    let stopped = false;
    const { calls, h, core } = recorder(
      () => {
        stopped = true;
        return Promise.resolve();
      },
      () => stopped,
    );
    await handleReady(core, full, { term: 1, vote: '' }, h);
    expect(calls.at(-1)).toBe('persist sync=true entries=1');
  });

  test('with an asynchronous restore, the committed entries wait for it', async () => {
    let restored: () => void = () => {};
    let stopped = false;
    const run = (stopDuringRestore: boolean) => {
      const r = recorder(
        () => {},
        () => stopped,
        () =>
          new Promise<void>((resolve) => {
            restored = () => {
              stopped = stopDuringRestore;
              resolve();
            };
          }),
      );
      return { ...r, done: handleReady(r.core, full, { term: 1, vote: '' }, r.h) };
    };
    const a = run(false);
    await Promise.resolve();
    expect(a.calls.at(-1)).toBe('restore 1');
    restored();
    await a.done;
    expect(a.calls.slice(-3)).toEqual(['apply 2', 'reads dropped=6 confirmed=7', 'advance']);
    // A driver stopped during the restore abandons the rest of the Ready.
    const b = run(true);
    await Promise.resolve();
    restored();
    await b.done;
    expect(b.calls.at(-1)).toBe('restore 1');
  });

  test('writes only what must be durable, syncing only a new term, vote, entry or snapshot', () => {
    const none = recorder();
    expect(
      handleReady(none.core, ready({ committedEntries: [ent(1)] }), { term: 2, vote: 'a' }, none.h),
    ).toBeUndefined();
    expect(none.calls).toEqual(['apply 1', 'advance']);
    const commitOnly = recorder();
    const rd = ready({ hardState: { term: 2, vote: 'a', commit: 3 } });
    expect(handleReady(commitOnly.core, rd, { term: 2, vote: 'a' }, commitOnly.h)).toBeUndefined();
    expect(commitOnly.calls[0]).toBe('persist sync=false entries=0');
    const vote = recorder();
    expect(handleReady(vote.core, rd, { term: 2, vote: '' }, vote.h)).toBeUndefined();
    expect(vote.calls[0]).toBe('persist sync=true entries=0');
  });

  test('a write of the commit index alone does not hold up the apply, the answers or the reads', async () => {
    let complete: () => void = () => {};
    const { calls, h, core } = recorder(() => new Promise<void>((r) => (complete = r)));
    const rd = ready({
      hardState: { term: 2, vote: 'a', commit: 3 },
      messages: [msg('AppendEntriesResponse'), msg('AppendEntries')],
      committedEntries: [ent(2), ent(3)],
      readStates: [{ id: 4, index: 3 }],
    });
    let settled = false;
    const done = handleReady(core, rd, { term: 2, vote: 'a' }, h);
    expect(done).toBeInstanceOf(Promise);
    void done!.then(() => (settled = true));
    expect(calls).toEqual([
      'send AppendEntries',
      'persist sync=false entries=0',
      'send AppendEntriesResponse',
      'apply 2',
      'apply 3',
      'reads dropped= confirmed=4',
      'advance',
    ]);
    // The driver still waits for the write before its next Ready.
    await Promise.resolve();
    expect(settled).toBe(false);
    complete();
    await done;
    expect(settled).toBe(true);
  });
});
