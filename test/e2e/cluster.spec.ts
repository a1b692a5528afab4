// ClusterService, grpc.health.v1 and "any node answers any request" on a real 3-node cluster.
import { LocalCluster } from '../support/cluster.js';
import { expectAllUp, fresh, grpc, methods, type Methods, roles, track } from '../support/e2e.js';
import {
  EventType,
  expectCode,
  failure,
  HealthClient,
  KeepAlive,
  openObserve,
  openWatch,
  syncWatch,
} from '../support/streams.js';
import { waitFor } from '../../libs/testing/src/wait.js';

describe('cluster API, health and forwarding (3-node cluster)', () => {
  const c = new LocalCluster();
  let leaderId: string;
  let followerId: string;
  let L: Methods;
  let F: Methods;

  beforeAll(async () => {
    await c.start();
    ({ leader: leaderId, follower: followerId } = await roles(c));
    L = methods(c.api(leaderId));
    F = methods(c.api(followerId));
  }, 30_000);
  afterAll(() => c.stop());

  describe('ClusterService.Status', () => {
    test('every node reports its id and role, the term, the leader and its client address, commit and applied index, and the members', async () => {
      // A write first, so that every index is past the leader's start-up entries.
      const g = await F.acquire({ name: fresh('status'), owner: 'o' });
      await waitFor('every node to apply the write', async () => {
        for (const id of c.ids)
          if ((await c.status(id)).applied_index < g.fencing_token) return false;
        return true;
      });
      const all = await Promise.all(c.ids.map((id) => c.status(id)));
      const leader = all.find((s) => s.id === leaderId)!;
      for (const [i, s] of all.entries()) {
        expect(s.id).toBe(c.ids[i]);
        expect(s.role).toBe(s.id === leaderId ? 'leader' : 'follower');
        expect(s.term).toBe(leader.term);
        expect(s.term).toBeGreaterThan(0);
        expect(s.leader_id).toBe(leaderId);
        expect(s.leader_client_address).toBe(c.node(leaderId).client);
        expect(s.commit_index).toBeGreaterThanOrEqual(g.fencing_token);
        expect(s.applied_index).toBeGreaterThanOrEqual(g.fencing_token);
        expect(s.applied_index).toBeLessThanOrEqual(s.commit_index);
        expect(s.members.map((m) => m.id).sort()).toEqual([...c.ids].sort());
        for (const m of s.members) {
          expect(m.peer_address).toBe(c.node(m.id).peer);
          expect(m.is_leader).toBe(m.id === leaderId);
        }
      }
      // The leader knows how far each follower's log matches its own. A member's client address
      // is known once it led (it is announced through the log); the leader's always is.
      for (const m of leader.members) {
        expect(m.match_index).toBeGreaterThanOrEqual(g.fencing_token);
        expect(['', c.node(m.id).client]).toContain(m.client_address);
      }
      expect(leader.members.find((m) => m.id === leaderId)!.client_address).toBe(
        c.node(leaderId).client,
      );
      await F.release(g.lease_id);
    });

    test('a follower forwards nothing for Status: it answers for itself', async () => {
      const s = await F.status();
      expect(s).toMatchObject({ id: followerId, role: 'follower', leader_id: leaderId });
    });
  });

  describe('grpc.health.v1.Health', () => {
    test('Check answers SERVING on every healthy node, for the server and each service', async () => {
      for (const id of c.ids) {
        const h = new HealthClient(c.node(id).client);
        try {
          for (const service of [
            '',
            'quorumlock.v1.LockService',
            'quorumlock.v1.ElectionService',
            'quorumlock.v1.ClusterService',
          ])
            // The status follows the node's view of the leader, which a busy machine may
            // lose for a moment: a bounded wait, not the first answer.
            await waitFor(
              `${id} to report "${service}" SERVING`,
              async () => (await h.check(service)).status === 'SERVING',
            );
          await expectCode(h.check('no.such.Service'), grpc.status.NOT_FOUND);
        } finally {
          h.close();
        }
      }
    });
  });

  describe('any node answers any request: followers forward to the leader', () => {
    test('every LockService method via a follower', async () => {
      const prefix = fresh('fwd-lock') + '/';
      const name = `${prefix}x`;
      const w = openWatch(F.api, prefix);
      const k = new KeepAlive(F.api);
      try {
        await syncWatch(w, F.api, prefix);
        const g = await F.acquire({ name, owner: 'o', ttl_ms: 4_000 });
        expect(g).toMatchObject({ acquired: true, ttl_ms: 4_000 });
        expect(await F.acquire({ name, owner: 'p' })).toMatchObject({
          acquired: false,
          holder: 'o',
        });
        expect(await F.renew(g.lease_id)).toEqual({ lease_id: g.lease_id, ttl_ms: 4_000 });
        k.renew(g.lease_id);
        expect(await k.next()).toEqual({ lease_id: g.lease_id, ttl_ms: 4_000 });
        expect(await F.describe(name)).toMatchObject({ held: true, owner: 'o' });
        expect(await L.describe(name)).toMatchObject({ held: true, owner: 'o' });
        expect(await F.release(g.lease_id, name)).toEqual({ released: true });
        expect(await w.next()).toMatchObject({ name, type: EventType.ACQUIRED, owner: 'o' });
        expect(await w.next()).toMatchObject({ name, type: EventType.RELEASED, owner: 'o' });
        await F.release(g.lease_id);
      } finally {
        await k.close();
        await w.close();
      }
    });

    test('every ElectionService method via a follower', async () => {
      const e = fresh('fwd-election');
      const o = openObserve(F.api, e);
      try {
        expect(await o.next()).toMatchObject({ has_leader: false });
        const g = await F.campaign({ election: e, candidate: 'alice', value: 'v1' });
        expect(g.elected).toBe(true);
        expect(await o.next()).toMatchObject({ candidate: 'alice', value: 'v1' });
        expect(await F.proclaim(e, g.lease_id, 'v2')).toEqual({});
        expect(await o.next()).toMatchObject({ candidate: 'alice', value: 'v2' });
        expect(await F.leader(e)).toMatchObject({ candidate: 'alice', value: 'v2' });
        expect(await F.resign(e, g.lease_id)).toEqual({ resigned: true });
        expect(await o.next()).toMatchObject({ has_leader: false });
        await F.release(g.lease_id);
      } finally {
        await o.close();
      }
    });

    test('both followers answer, each through its own forwarding', async () => {
      const [f1, f2] = c.ids.filter((id) => id !== leaderId).map((id) => methods(c.api(id)));
      if (!f1 || !f2) throw new Error('a 3-node cluster has two followers');
      const name = fresh('fwd-both');
      const g = await f1.acquire({ name, owner: 'o' });
      expect(await f2.acquire({ name, owner: 'p' })).toMatchObject({
        acquired: false,
        holder: 'o',
      });
      expect(await f2.release(g.lease_id)).toEqual({ released: true });
      expect(await f1.describe(name)).toMatchObject({ held: false });
    });

    test('reads via a follower are linearizable: they see every write acknowledged before them', async () => {
      const nodes = c.ids.map((id) => methods(c.api(id)));
      for (let i = 0; i < 30; i++) {
        const writer = nodes[i % nodes.length]!; // modulo the length
        const reader = nodes[(i + 1) % nodes.length]!;
        const name = fresh('lin');
        const g = await writer.acquire({ name, owner: `o${i}` });
        expect(await reader.describe(name)).toMatchObject({
          held: true,
          owner: `o${i}`,
          fencing_token: g.fencing_token,
        });
        const e = fresh('lin-e');
        const ge = await writer.campaign({ election: e, candidate: `c${i}`, lease_id: g.lease_id });
        expect(await reader.leader(e)).toMatchObject({ fencing_token: ge.fencing_token });
        await writer.release(g.lease_id);
        expect(await reader.describe(name)).toMatchObject({ held: false });
        expect(await reader.leader(e)).toMatchObject({ has_leader: false });
      }
    });

    test('a waiting Acquire via a follower is woken by a release via another node', async () => {
      const name = fresh('fwd-wait');
      const h = await L.acquire({ name, owner: 'h' });
      const waiting = track(F.acquire({ name, owner: 'w', wait_ms: 20_000 }));
      await waitFor('the waiter to queue', async () => (await L.describe(name)).waiters === 1);
      await L.release(h.lease_id);
      expect(await waiting.promise).toMatchObject({ acquired: true, holder: 'w' });
      await F.release((await waiting.promise).lease_id);
    });
  });

  describe('ClusterService.TransferLeadership', () => {
    test('an unknown node id is INVALID_ARGUMENT naming id, on leader and follower', async () => {
      for (const api of [L, F]) {
        const e = await expectCode(
          api.api.call(api.api.cluster, 'TransferLeadership', { id: 'n9' }),
          grpc.status.INVALID_ARGUMENT,
        );
        expect(e.details).toMatch(/^id:/);
      }
      await expectAllUp(c);
      expect(await c.leader()).toBe(leaderId);
    });

    test('TransferLeadership(id) via a follower moves leadership there; Status on every node shows it', async () => {
      const target = c.ids.find((id) => id !== leaderId && id !== followerId)!;
      const r = await F.api.call<{ leader_id: string }>(
        F.api.cluster,
        'TransferLeadership',
        { id: target },
        10_000,
      );
      expect(r).toEqual({ leader_id: target });
      await waitFor(
        `every node to report ${target} as leader`,
        async () => (await c.leader()) === target,
        10_000,
      );
      const s = await c.status(target);
      expect(s).toMatchObject({ role: 'leader', leader_id: target });
      expect(s.leader_client_address).toBe(c.node(target).client);
      // The service goes on under the new leader.
      const g = await F.acquire({ name: fresh('after-transfer'), owner: 'o' });
      expect(g.acquired).toBe(true);
      await F.release(g.lease_id);
      // And back, through the new leader itself.
      const back = methods(c.api(target));
      expect(
        await back.api.call(back.api.cluster, 'TransferLeadership', { id: leaderId }, 10_000),
      ).toEqual({ leader_id: leaderId });
      await waitFor(
        'the leadership to come back',
        async () => (await c.leader()) === leaderId,
        10_000,
      );
    });
  });

  describe('ClusterService.TransferLeadership to a member that is down', () => {
    test('is FAILED_PRECONDITION naming it, and writes go on meanwhile', async () => {
      const current = await c.leader();
      const target = c.ids.find((id) => id !== current && id !== followerId)!;
      const api = c.api(current);
      await c.kill(target);
      try {
        // Until the leader has missed the target for an election timeout, a transfer may still
        // be accepted and then time out (UNAVAILABLE): retry until it is refused outright.
        const refused = await waitFor(
          'the transfer to be refused',
          async () => {
            const e = await failure(
              api.call(api.cluster, 'TransferLeadership', { id: target }, 5_000),
            );
            return e.code === grpc.status.FAILED_PRECONDITION ? e : undefined;
          },
          20_000,
        );
        expect(refused.details).toContain(target);
        const g = await methods(api).acquire({ name: fresh('target-down'), owner: 'o' });
        expect(g.acquired).toBe(true);
        await methods(api).release(g.lease_id);
        expect(await c.leader()).toBe(current);
      } finally {
        c.startNode(target);
      }
      await waitFor('the restarted member to rejoin', () => c.agreedLeader(), 20_000);
    });
  });

  test('no call above crashed a node', async () => {
    await expectAllUp(c);
  });
});
