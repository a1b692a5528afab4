// The leader puts the caller's identity into what it proposes: new leases belong to it, request
// ids are scoped by it, and another identity's use of a lease is refused (PERMISSION_DENIED).
import type { MutexRequest } from '../src/domain/leader-duties.js';
import { Code, type DomainError } from '../src/domain/errors.js';
import { LeaderHarness } from './fixtures/leader-harness.js';

const req = (name: string, o: Partial<MutexRequest> = {}): MutexRequest => ({
  name,
  owner: o.owner ?? 'o',
  value: '',
  ttl: o.ttl ?? 1_000,
  waitMs: o.waitMs ?? 0,
  requestId: o.requestId ?? '',
  leaseId: o.leaseId ?? '',
});
const alice = { principal: 'alice' };
const bob = { principal: 'bob' };
const root = { principal: 'root' };

const made: LeaderHarness[] = [];
function harness(): LeaderHarness {
  const h = new LeaderHarness({ isAdmin: (p) => p === 'root' });
  made.push(h);
  h.lead();
  return h;
}
afterEach(() => {
  for (const h of made.splice(0)) h.stepDown();
});

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: DomainError) => ({ code: e.code, message: e.message }),
  );

describe('the leader and identities', () => {
  test('a new lease belongs to its caller; without an identity it belongs to nobody', async () => {
    const h = harness();
    const g = await h.leadership.acquire('lock', req('a'), alice);
    expect(h.sm.live(g.lease_id)!.principal).toBe('alice');
    const anonymous = await h.leadership.acquire('lock', req('b'), {});
    expect(Object.hasOwn(h.sm.live(anonymous.lease_id)!, 'principal')).toBe(false);
  });

  test('a request id is one identity’s: another identity reusing it makes a request of its own', async () => {
    const h = harness();
    const g = await h.leadership.acquire('lock', req('a', { requestId: 'r1', owner: 'A' }), alice);
    expect(g.granted).toBe(true);
    const other = await h.leadership.acquire(
      'lock',
      req('a', { requestId: 'r1', owner: 'B' }),
      bob,
    );
    expect(other).toMatchObject({ granted: false, holder: 'A' });
    const retry = await h.leadership.acquire(
      'lock',
      req('a', { requestId: 'r1', owner: 'A' }),
      alice,
    );
    expect(retry).toMatchObject({ granted: true, lease_id: g.lease_id, token: g.token });
  });

  test('renewals: the owner’s and an admin’s pass, another identity’s are refused, in one batch too', async () => {
    const h = harness();
    const g = await h.leadership.acquire('lock', req('a'), alice);
    const [mine, theirs, admins] = await Promise.all([
      h.leadership.renew(g.lease_id, alice),
      refusal(h.leadership.renew(g.lease_id, bob)),
      h.leadership.renew(g.lease_id, root),
    ]);
    expect(mine).toBe(1_000);
    expect(admins).toBe(1_000);
    expect(theirs).toEqual({
      code: Code.PERMISSION_DENIED,
      message: `permission denied: lock on lease ${g.lease_id}: the lease belongs to another identity`,
    });
    expect(h.ops('renew')).toHaveLength(1);
  });

  test('acquiring or campaigning with another identity’s lease is refused', async () => {
    const h = harness();
    const g = await h.leadership.acquire('lock', req('a'), alice);
    expect(
      await refusal(h.leadership.acquire('lock', req('b', { leaseId: g.lease_id }), bob)),
    ).toEqual({
      code: Code.PERMISSION_DENIED,
      message: `permission denied: lock on lease ${g.lease_id}: the lease belongs to another identity`,
    });
    expect(
      await refusal(h.leadership.acquire('election', req('e', { leaseId: g.lease_id }), bob)),
    ).toMatchObject({ message: expect.stringContaining('elect on lease') as unknown });
    expect(h.sm.mutex('lock', 'b')).toBeUndefined();
    expect(h.sm.mutex('election', 'e')).toBeUndefined();
  });

  test('the leader keeps alive, as itself, the lease a waiting call of an identity made', async () => {
    const h = harness();
    await h.leadership.acquire('lock', req('a', { owner: 'holder', ttl: 60_000 }), bob);
    let settled = false;
    const waiting = h.leadership
      .acquire('lock', req('a', { owner: 'waiter', waitMs: 10_000 }), alice)
      .finally(() => (settled = true));
    await h.advance(3_000); // three TTLs of the waiter's lease
    expect(settled).toBe(false);
    const lease = [...h.sm.leases.values()].find((l) => l.principal === 'alice');
    expect(lease).toBeDefined();
    expect(h.sm.live(lease!.id)).toBeDefined();
    h.stepDown();
    await expect(waiting).rejects.toMatchObject({ code: Code.UNAVAILABLE });
  });
});
