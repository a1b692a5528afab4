import { LocalCluster } from '../support/cluster.js';
import { onAnyNode } from '../support/retry.js';
import { sleep, waitFor } from '../../libs/testing/src/wait.js';

interface Grant {
  lock: string;
  client: number;
  token: number;
  /** When the grant reached the client, and when it asked to release (monotonic, one process). */
  from: number;
  to: number;
}

/** Checks the history: per lock, tokens increase in grant order and holding intervals never overlap. */
function checkHistory(grants: Grant[]): void {
  const byLock = new Map<string, Grant[]>();
  for (const g of grants) byLock.set(g.lock, [...(byLock.get(g.lock) ?? []), g]);
  for (const [lock, gs] of byLock) {
    gs.sort((a, b) => a.from - b.from);
    for (const [i, cur] of gs.entries()) {
      const prev = gs[i - 1];
      if (prev === undefined) continue;
      if (cur.token <= prev.token)
        throw new Error(`${lock}: token ${cur.token} after ${prev.token}`);
      if (cur.from < prev.to) {
        throw new Error(
          `${lock}: client ${cur.client} held from ${cur.from} while client ${prev.client} held until ${prev.to}`,
        );
      }
    }
  }
}

describe('mutual exclusion under concurrency', () => {
  const cluster = new LocalCluster();
  beforeAll(() => cluster.start(), 30_000);
  afterAll(() => cluster.stop());

  test('20 clients on 3 locks through all three nodes: no overlap, strictly increasing tokens', async () => {
    const locks = ['me/a', 'me/b', 'me/c'];
    const grants: Grant[] = [];
    const rounds = 8;
    const client = async (c: number) => {
      const api = cluster.api(cluster.ids[c % cluster.ids.length]!); // modulo the length
      for (let r = 0; r < rounds; r++) {
        const lock = locks[(c + r) % locks.length]!;
        const res = await api.call<{ acquired: boolean; lease_id: string; fencing_token: number }>(
          api.lock,
          'Acquire',
          {
            name: lock,
            owner: `client-${c}`,
            ttl_ms: 10_000,
            wait_ms: 20_000,
            request_id: `me-${c}-${r}`,
          },
          30_000,
        );
        expect(res.acquired).toBe(true);
        const from = performance.now();
        await sleep(Math.random() * 10); // the client's work under the lock: its pacing
        const to = performance.now();
        grants.push({ lock, client: c, token: res.fencing_token, from, to });
        const rel = await api.call<{ released: boolean }>(api.lock, 'Release', {
          lease_id: res.lease_id,
          name: '',
        });
        expect(rel.released).toBe(true);
      }
    };
    await Promise.all(Array.from({ length: 20 }, (_, c) => client(c)));
    expect(grants).toHaveLength(20 * rounds);
    checkHistory(grants);
  });

  test('a waiter’s lease is kept alive by its open call, through waits longer than its TTL', async () => {
    const holder = await onAnyNode(cluster, (api) =>
      api.call<{ lease_id: string; fencing_token: number }>(api.lock, 'Acquire', {
        name: 'me/long-wait',
        owner: 'h',
        ttl_ms: 60_000,
      }),
    );
    const api = cluster.api(cluster.ids[0]!);
    const waiting = api.call<{ acquired: boolean; lease_id: string; fencing_token: number }>(
      api.lock,
      'Acquire',
      {
        name: 'me/long-wait',
        owner: 'w',
        ttl_ms: 1000,
        wait_ms: 20_000,
        request_id: 'me-long-wait',
      },
      30_000,
    );
    await waitFor('the waiter to queue', async () => {
      const d = await onAnyNode(cluster, (a) =>
        a.call<{ waiters: number }>(a.lock, 'Describe', { name: 'me/long-wait' }),
      );
      return d.waiters === 1;
    });
    // Time passing is the subject: three of the waiter's TTLs pass while it waits (the leader
    // keeps its lease alive).
    await sleep(3500);
    const releasing = performance.now();
    await onAnyNode(cluster, (a) =>
      a.call(a.lock, 'Release', { lease_id: holder.lease_id, name: '' }),
    );
    const w = await waiting;
    expect(w.acquired).toBe(true);
    expect(w.fencing_token).toBeGreaterThan(holder.fencing_token);
    // The grant came with a fresh TTL, not what was left of the lease after the wait: it was
    // granted after the release was sent, so at most the time since then has run off it
    // (1 ms for the server's rounding).
    const d = await api.call<{ remaining_ms: number }>(api.lock, 'Describe', {
      name: 'me/long-wait',
    });
    expect(d.remaining_ms).toBeGreaterThanOrEqual(1000 - (performance.now() - releasing) - 1);
    // Its lease is alive after the grant: it can be renewed.
    await onAnyNode(cluster, (a) => a.call(a.lock, 'Renew', { lease_id: w.lease_id }));
  }, 30_000);

  test('the checker itself rejects an overlap and a token going backwards', () => {
    expect(() =>
      checkHistory([
        { lock: 'x', client: 1, token: 5, from: 0, to: 10 },
        { lock: 'x', client: 2, token: 6, from: 5, to: 12 },
      ]),
    ).toThrow(/held from/);
    expect(() =>
      checkHistory([
        { lock: 'x', client: 1, token: 5, from: 0, to: 10 },
        { lock: 'x', client: 2, token: 4, from: 11, to: 12 },
      ]),
    ).toThrow(/token 4 after 5/);
  });

  test('fencing tokens keep increasing across a full-cluster restart, and leases survive it', async () => {
    const held = await onAnyNode(cluster, (api) =>
      api.call<{ acquired: boolean; lease_id: string; fencing_token: number }>(
        api.lock,
        'Acquire',
        { name: 'restart/held', owner: 'keeper', ttl_ms: 60_000 },
      ),
    );
    const before = await onAnyNode(cluster, (api) =>
      api.call<{ fencing_token: number; lease_id: string }>(api.lock, 'Acquire', {
        name: 'restart/other',
        owner: 'x',
        ttl_ms: 60_000,
      }),
    );
    await onAnyNode(cluster, (api) =>
      api.call(api.lock, 'Release', { lease_id: before.lease_id, name: '' }),
    );
    for (const id of cluster.ids) await cluster.kill(id, 'SIGKILL');
    for (const id of cluster.ids) cluster.startNode(id);
    await cluster.leader(20_000);
    // The held lock is still held by the same lease, with the same token, and can be renewed.
    const d = await onAnyNode(cluster, (api) =>
      api.call<{ held: boolean; owner: string; fencing_token: number }>(api.lock, 'Describe', {
        name: 'restart/held',
      }),
    );
    expect(d).toMatchObject({ held: true, owner: 'keeper', fencing_token: held.fencing_token });
    await onAnyNode(cluster, (api) => api.call(api.lock, 'Renew', { lease_id: held.lease_id }));
    const after = await onAnyNode(cluster, (api) =>
      api.call<{ acquired: boolean; fencing_token: number }>(api.lock, 'Acquire', {
        name: 'restart/other',
        owner: 'y',
      }),
    );
    expect(after.acquired).toBe(true);
    expect(after.fencing_token).toBeGreaterThan(before.fencing_token);
  }, 60_000);
});
