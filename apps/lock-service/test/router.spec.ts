import pino from 'pino';
import type { CallContext } from '../src/domain/api.js';
import type { UnstampedCommand } from '../src/domain/commands.js';
import { Code } from '../src/domain/errors.js';
import { type ForwardPort, LeaderRouter } from '../src/domain/router.js';
import type { Runtime } from '../src/domain/runtime.js';
import type { LockStateView } from '../src/domain/state-view.js';

function setup(o: { leading?: boolean; leader?: string; isLeader?: boolean } = {}) {
  const members = new Map<string, string>([['n2', '10.0.0.2:7001']]);
  const forwarded: { address: string; method: string; ctx: CallContext }[] = [];
  const proposed: UnstampedCommand[] = [];
  let now = 100;
  const timers: { at: number; fn: () => void }[] = [];
  const s = {
    leading: o.leading ?? false,
    leader: o.leader ?? 'n2',
    applied: 5,
    leaderApplied: 9,
  };
  const forward: ForwardPort = {
    call: <T>(address: string, _svc: string, method: string, _req: unknown, ctx: CallContext) => {
      forwarded.push({ address, method, ctx });
      return Promise.resolve((method === 'Status' ? { applied_index: s.leaderApplied } : {}) as T);
    },
    close: () => undefined,
  };
  const runtime: Runtime = {
    now: () => now,
    after: (ms, fn) => {
      timers.push({ at: now + ms, fn });
      return { cancel: () => undefined };
    },
    soon: (fn) => void setImmediate(fn),
  };
  const router = new LeaderRouter(
    {
      isLeader: () => o.isLeader ?? s.leading,
      leaderId: () => s.leader,
      applied: () => s.applied,
      isMember: (id: string) => ['n1', 'n2', 'n3', 'n4'].includes(id),
      // n4 joined after this node started: only the configuration knows its address.
      peerAddress: (id: string) => ({ n2: 'config-b', n4: 'config-d' })[id],
    },
    () => s.leading,
    { memberAddress: (id: string) => members.get(id) } as unknown as LockStateView,
    forward,
    (c) => {
      proposed.push(c);
      if (c.op === 'member') members.set(c.id, c.client_address); // as applying it would
      return Promise.resolve({ status: 'ok' });
    },
    runtime,
    {
      id: 'n1',
      clientAddress: '10.0.0.1:7001',
      peers: { n1: 'a', n2: 'b', n3: 'c' },
      logger: pino({ level: 'silent' }),
    },
  );
  const advance = (ms: number) => {
    now += ms;
    for (const t of timers.splice(0).filter((t) => t.at <= now)) t.fn();
  };
  return { router, forwarded, proposed, members, s, advance, now: () => now };
}

const local = () => Promise.resolve('local');

describe('LeaderRouter', () => {
  test('the leader runs the call itself; a follower forwards it to the leader’s peer address', async () => {
    const leader = setup({ leading: true });
    expect(await leader.router.route('LockService', 'Acquire', {}, {}, local)).toBe('local');
    const follower = setup();
    expect(await follower.router.route('LockService', 'Acquire', {}, {}, local)).toEqual({});
    expect(follower.forwarded).toEqual([
      expect.objectContaining({ address: 'b', method: 'Acquire' }),
    ]);
  });

  test('forwards to a leader added since this node started at its address in the configuration', async () => {
    const f = setup({ leader: 'n4' });
    await f.router.route('LockService', 'Acquire', {}, {}, local);
    // --peers first (this node's view, maybe through a proxy), the configuration for the rest.
    f.s.leader = 'n2';
    await f.router.route('LockService', 'Acquire', {}, {}, local);
    expect(f.forwarded.map((x) => x.address)).toEqual(['config-d', 'b']);
  });

  test('never forwards twice, nor guesses: UNAVAILABLE without a known leader or peer address, DEADLINE_EXCEEDED past the deadline', async () => {
    const f = setup();
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: { code: Code }) => e.code,
      );
    expect(
      await code(f.router.route('LockService', 'Acquire', {}, { forwarded: true }, local)),
    ).toBe(Code.UNAVAILABLE);
    f.s.leader = 'n9'; // neither in --peers nor in the configuration: no address to forward to
    expect(await code(f.router.route('LockService', 'Acquire', {}, {}, local))).toBe(
      Code.UNAVAILABLE,
    );
    f.s.leader = '';
    expect(await code(f.router.route('LockService', 'Acquire', {}, {}, local))).toBe(
      Code.UNAVAILABLE,
    );
    expect(await code(f.router.route('LockService', 'Acquire', {}, { deadline: 50 }, local))).toBe(
      Code.DEADLINE_EXCEEDED,
    );
    const starting = setup({ isLeader: true });
    expect(await code(starting.router.route('LockService', 'Acquire', {}, {}, local))).toBe(
      Code.UNAVAILABLE,
    );
    expect(f.forwarded).toEqual([]);
  });

  test('the leader writes the address a forwarding member names, once, and only for members', async () => {
    const l = setup({ leading: true });
    const by = (id: string) => ({ forwarded: true, forwardedBy: { id, clientAddress: `${id}:1` } });
    await l.router.route('LockService', 'Acquire', {}, by('n3'), local);
    await l.router.route('LockService', 'Acquire', {}, by('n3'), local);
    await l.router.route('LockService', 'Acquire', {}, by('intruder'), local);
    expect(l.proposed).toEqual([{ op: 'member', id: 'n3', client_address: 'n3:1' }]);
  });

  test('a follower whose address the log lacks announces it, at most every 2 s', () => {
    const f = setup();
    f.router.announce();
    f.router.announce();
    expect(f.forwarded.map((x) => x.method)).toEqual(['ListMembers']);
    f.advance(2_000);
    f.router.announce();
    expect(f.forwarded).toHaveLength(2);
    f.members.set('n1', '10.0.0.1:7001');
    f.advance(2_000);
    f.router.announce();
    expect(f.forwarded).toHaveLength(2);
  });

  test('a follower catches up with the leader’s applied index before an Observe starts', async () => {
    const f = setup();
    let done = false;
    const p = f.router.catchUpWithLeader({}).then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(f.forwarded.map((x) => x.method)).toEqual(['ListMembers', 'Status']);
    f.advance(5);
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    f.s.applied = 9;
    f.advance(5);
    await p;
    expect(done).toBe(true);
  });
});
