// Metrics and logs of real `quorumlock serve` processes (built code: `npm run build` first):
// the names exist on every node and move with lock traffic, replication and a leader's death.
import type * as grpc from '@grpc/grpc-js';
import { type Exposition, scrape, seriesOf, valueOf } from '../../../test/support/metrics.js';
import { LocalCluster } from '../../../test/support/cluster.js';
import { waitFor } from '../../../libs/testing/src/wait.js';

interface Acquired {
  acquired: boolean;
  lease_id: string;
  fencing_token: number;
}

const c = new LocalCluster();
const metrics = (id: string): Promise<Exposition> => scrape(c.node(id).http);
const lock = (id: string, method: string, req: object) =>
  c.api(id).call<Record<string, unknown>>(c.api(id).lock, method, req);
const acquire = (id: string, req: object) =>
  c.api(id).call<Acquired>(c.api(id).lock, 'Acquire', req, 15_000);
const grpcLabels = (method: string, code?: string) => ({
  grpc_service: 'quorumlock.v1.LockService',
  grpc_method: method,
  ...(code === undefined ? {} : { grpc_code: code }),
});

/** On every running node, waits until check(scrape) holds. */
async function everywhere(what: string, check: (e: Exposition) => boolean): Promise<void> {
  for (const id of c.ids.filter((i) => c.isUp(i)))
    await waitFor(`${what} on ${id}`, async () => check(await metrics(id)), 10_000);
}

beforeAll(() => c.start(), 30_000);
afterAll(() => c.stop());

describe('metrics of a running cluster', () => {
  it('every node exports Raft, lock, gRPC and process metrics and agrees on the leader', async () => {
    const leader = await c.leader();
    for (const id of c.ids) {
      const e = await metrics(id);
      for (const name of [
        'quorumlock_raft_term',
        'quorumlock_raft_role',
        'quorumlock_raft_commit_index',
        'quorumlock_raft_applied_index',
        'quorumlock_raft_proposal_commit_duration_seconds_bucket',
        'quorumlock_raft_storage_fsync_duration_seconds_count',
        'quorumlock_raft_storage_entries_per_write_sum',
        'quorumlock_raft_snapshot_duration_seconds_bucket',
        'quorumlock_raft_log_entries',
        'quorumlock_raft_log_bytes',
        'quorumlock_leases_active',
        'quorumlock_locks_held',
        'quorumlock_lock_waiters',
        'quorumlock_fencing_token_max',
        'quorumlock_lock_acquires_total',
        'quorumlock_lock_acquire_duration_seconds_bucket',
        'grpc_server_handled_total',
        'grpc_server_handling_seconds_bucket',
        'grpc_server_started_total',
        'grpc_server_streams_open',
        'grpc_server_msg_received_total',
        'grpc_server_msg_sent_total',
        'quorumlock_process_resident_memory_bytes',
        'quorumlock_nodejs_eventloop_lag_seconds',
      ])
        expect(e.names).toContain(name);
      expect(valueOf(e, 'quorumlock_raft_is_leader')).toBe(id === leader ? 1 : 0);
      expect(valueOf(e, 'quorumlock_raft_role', { role: 'leader' })).toBe(id === leader ? 1 : 0);
      expect(seriesOf(e, 'quorumlock_raft_leader_info').map((s) => s.labels.leader)).toEqual([
        leader,
      ]);
      expect(valueOf(e, 'quorumlock_raft_voters')).toBe(3);
      // No node label: the scrape target tells which node this is.
      expect(e.samples.some((s) => 'node' in s.labels)).toBe(false);
    }
  });

  it('lock calls move the call, gRPC and Raft metrics of the node that received them', async () => {
    const leader = await c.leader();
    const before = await metrics(leader);
    const delta = async (name: string, labels: Record<string, string> = {}) =>
      valueOf(await metrics(leader), name, labels) - valueOf(before, name, labels);

    const held = await acquire(leader, { name: 'obs-a', owner: 'o1' });
    expect(held.acquired).toBe(true);
    expect((await acquire(leader, { name: 'obs-a', owner: 'o2' })).acquired).toBe(false);
    await lock(leader, 'Renew', { lease_id: held.lease_id });
    await expect(lock(leader, 'Renew', { lease_id: 'ffffffffffffffff' })).rejects.toMatchObject({
      code: 5,
    });
    expect(await lock(leader, 'Release', { lease_id: held.lease_id, name: 'obs-a' })).toEqual({
      released: true,
    });
    expect(await lock(leader, 'Release', { lease_id: held.lease_id, name: 'obs-a' })).toEqual({
      released: false,
    });

    const acquires = 'quorumlock_lock_acquires_total';
    expect(await delta(acquires, { result: 'granted' })).toBe(1);
    expect(await delta(acquires, { result: 'contended' })).toBe(1);
    expect(await delta(acquires, { result: 'error' })).toBe(0);
    expect(await delta('quorumlock_lease_renewals_total', { result: 'ok' })).toBe(1);
    expect(await delta('quorumlock_lease_renewals_total', { result: 'not_found' })).toBe(1);
    expect(await delta('quorumlock_lock_releases_total', { result: 'released' })).toBe(1);
    expect(await delta('quorumlock_lock_releases_total', { result: 'not_held' })).toBe(1);
    const granted = 'quorumlock_lock_acquire_duration_seconds_count';
    expect(await delta(granted, { wait: 'false' })).toBe(1);
    const handled = 'grpc_server_handled_total';
    expect(await delta(handled, grpcLabels('Acquire', 'OK'))).toBe(2);
    expect(await delta(handled, grpcLabels('Renew', 'NotFound'))).toBe(1);
    expect(await delta('grpc_server_started_total', grpcLabels('Release'))).toBe(2);
    // Every call sent one message; the Renew that failed answered none.
    expect(await delta('grpc_server_msg_received_total', grpcLabels('Renew'))).toBe(2);
    expect(await delta('grpc_server_msg_sent_total', grpcLabels('Renew'))).toBe(1);
    expect(await delta('grpc_server_handling_seconds_count', grpcLabels('Renew'))).toBe(2);
    expect(await delta('quorumlock_raft_proposals_total', { result: 'committed' })).toBeGreaterThan(
      0,
    );
    expect(await delta('quorumlock_raft_proposal_commit_duration_seconds_count')).toBeGreaterThan(
      0,
    );
    expect(await delta('quorumlock_raft_storage_fsync_duration_seconds_count')).toBeGreaterThan(0);
    // The replicated state shows the grant everywhere.
    await everywhere(
      'the fencing token',
      (e) => valueOf(e, 'quorumlock_fencing_token_max') >= held.fencing_token,
    );
  });

  it('counts a call forwarded by a follower once, where the client sent it', async () => {
    const leader = await c.leader();
    const follower = c.ids.find((id) => id !== leader)!;
    const labels = { result: 'granted' };
    const [l0, f0] = [await metrics(leader), await metrics(follower)];
    const r = await acquire(follower, { name: 'obs-forwarded', owner: 'o1' });
    expect(r.acquired).toBe(true);
    const [l1, f1] = [await metrics(leader), await metrics(follower)];
    const acquires = 'quorumlock_lock_acquires_total';
    expect(valueOf(f1, acquires, labels) - valueOf(f0, acquires, labels)).toBe(1);
    expect(valueOf(l1, acquires, labels) - valueOf(l0, acquires, labels)).toBe(0);
    await lock(follower, 'Release', { lease_id: r.lease_id });
  });

  it('shows waiters and held locks on every node, and the wait in the acquire latency', async () => {
    const leader = await c.leader();
    const first = await acquire(leader, { name: 'obs-queue', owner: 'o1' });
    const before = await metrics(leader);
    const second = acquire(leader, { name: 'obs-queue', owner: 'o2', wait_ms: 10_000 });
    await everywhere('a queued waiter', (e) => {
      return (
        valueOf(e, 'quorumlock_lock_waiters', { kind: 'lock' }) === 1 &&
        valueOf(e, 'quorumlock_locks_held') >= 1 &&
        valueOf(e, 'quorumlock_leases_active') >= 2
      );
    });
    await lock(leader, 'Release', { lease_id: first.lease_id });
    const granted = await second;
    expect(granted.acquired).toBe(true);
    const after = await metrics(leader);
    const waited = 'quorumlock_lock_acquire_duration_seconds_count';
    expect(
      valueOf(after, waited, { wait: 'true' }) - valueOf(before, waited, { wait: 'true' }),
    ).toBe(1);
    await everywhere('no waiter', (e) => valueOf(e, 'quorumlock_lock_waiters') === 0);
    await lock(leader, 'Release', { lease_id: granted.lease_id });
  });

  it('counts an expired lease on every node and logs which lease and locks', async () => {
    const leader = await c.leader();
    const before = new Map<string, number>();
    for (const id of c.ids)
      before.set(id, valueOf(await metrics(id), 'quorumlock_leases_expired_total'));
    const r = await acquire(leader, { name: 'obs-expiring', owner: 'o1', ttl_ms: 1000 });
    for (const id of c.ids)
      await waitFor(
        `the expiry on ${id}`,
        async () => {
          const e = await metrics(id);
          return valueOf(e, 'quorumlock_leases_expired_total') === before.get(id)! + 1;
        },
        15_000,
      );
    expect(valueOf(await metrics(leader), 'quorumlock_locks_expired_total')).toBeGreaterThan(0);
    const line = await waitFor('the expiry log line', () =>
      logLines(leader).find((l) => l.msg === 'lease expired' && l.lease === r.lease_id),
    );
    expect(JSON.stringify(line.locks)).toContain('obs-expiring');
  });

  it('measures replication on the leader and the followers', async () => {
    const leader = await c.leader();
    const followers = c.ids.filter((id) => id !== leader);
    const e = await metrics(leader);
    const lag = seriesOf(e, 'quorumlock_raft_replication_lag_entries');
    expect(lag.map((s) => s.labels.peer).sort()).toEqual([...followers].sort());
    expect(valueOf(e, 'quorumlock_raft_append_entries_sent_total')).toBeGreaterThan(0);
    expect(valueOf(e, 'quorumlock_raft_log_entries')).toBeGreaterThan(0);
    expect(valueOf(e, 'quorumlock_raft_log_bytes')).toBeGreaterThan(0);
    expect(valueOf(e, 'quorumlock_raft_storage_entries_per_write_count')).toBeGreaterThan(0);
    for (const p of followers)
      expect(valueOf(e, 'quorumlock_raft_peer_connected', { peer: p })).toBe(1);
    for (const id of followers) {
      const f = await metrics(id);
      expect(valueOf(f, 'quorumlock_raft_append_entries_received_total')).toBeGreaterThan(0);
      expect(seriesOf(f, 'quorumlock_raft_replication_lag_entries')).toEqual([]);
    }
    const commit = valueOf(e, 'quorumlock_raft_commit_index');
    await everywhere('the applied index', (x) => {
      return valueOf(x, 'quorumlock_raft_applied_index') >= commit;
    });
  });

  it('tracks open streams and counts a cancelled one', async () => {
    const leader = await c.leader();
    const open = (e: Exposition) => valueOf(e, 'grpc_server_streams_open', grpcLabels('Watch'));
    const cancelled = (e: Exposition) =>
      valueOf(e, 'grpc_server_handled_total', grpcLabels('Watch', 'Canceled'));
    const before = await metrics(leader);
    const client = c.api(leader).lock as unknown as {
      Watch(req: object): grpc.ClientReadableStream<unknown>;
    };
    const call = client.Watch({ prefix: 'obs-' });
    call.on('error', () => undefined);
    await waitFor('an open stream', async () => open(await metrics(leader)) === open(before) + 1);
    call.cancel();
    await waitFor('the stream to close', async () => {
      const e = await metrics(leader);
      return open(e) === open(before) && cancelled(e) === cancelled(before) + 1;
    });
  });

  it('writes every log line as JSON with the node, its term and role', async () => {
    const roles = ['starting', 'follower', 'pre-candidate', 'candidate', 'leader'];
    for (const id of c.ids) {
      const lines = logLines(id);
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines) {
        expect(l.node).toBe(id);
        expect(typeof l.term).toBe('number');
        expect(roles).toContain(l.role);
      }
    }
    const leader = await c.leader();
    expect(logLines(leader).some((l) => l.msg === 'leader changed' && l.leader === leader)).toBe(
      true,
    );
  });

  it('shows a leader change and an election on the survivors after the leader dies', async () => {
    const old = await c.leader();
    const survivors = c.ids.filter((id) => id !== old);
    const before = new Map<string, Exposition>();
    for (const id of survivors) before.set(id, await metrics(id));
    await c.kill(old);
    const next = await c.leader(20_000);
    expect(next).not.toBe(old);
    let elections = 0;
    for (const id of survivors) {
      const was = before.get(id)!;
      const changes = 'quorumlock_raft_leader_changes_total';
      const e = await waitFor(`the leader change on ${id}`, async () => {
        const e = await metrics(id);
        return valueOf(e, changes) > valueOf(was, changes) ? e : undefined;
      });
      const started = 'quorumlock_raft_elections_started_total';
      elections += valueOf(e, started) - valueOf(was, started);
      const term = 'quorumlock_raft_term';
      expect(valueOf(e, term)).toBeGreaterThan(valueOf(was, term));
    }
    expect(elections).toBeGreaterThan(0);
    expect(logLines(next).some((l) => l.msg === 'election started')).toBe(true);
    await waitFor('the dead peer to show as disconnected', async () => {
      const e = await metrics(next);
      return valueOf(e, 'quorumlock_raft_peer_connected', { peer: old }) === 0;
    });
  });
});

/** The complete JSON lines a node wrote (the cluster keeps a bounded tail of its output). */
function logLines(id: string): Record<string, unknown>[] {
  return c
    .logs(id)
    .split('\n')
    .filter((l) => l.startsWith('{') && l.endsWith('}'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
