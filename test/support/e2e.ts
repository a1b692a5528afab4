// Shorthands for the end-to-end specs of the public API, on a LocalCluster.
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import type { ApiClient } from './grpc-clients.js';
import { scrape, valueOf } from './metrics.js';
import type {
  AcquireResponse,
  CampaignResponse,
  DescribeResponse,
  LeaderResponse,
  ProclaimResponse,
  ReleaseResponse,
  RenewResponse,
  ResignResponse,
  StatusResponse,
} from '../../apps/lock-service/src/domain/api.js';
import type { LocalCluster } from './cluster.js';
import { ignoreRejection } from '../../libs/common/src/ignore.js';

export { grpc };

/** Typed wrappers of the unary methods on one node. */
export function methods(api: ApiClient) {
  return {
    api,
    acquire: (req: object, timeoutMs?: number) =>
      api.call<AcquireResponse>(api.lock, 'Acquire', req, timeoutMs),
    renew: (lease_id: string) => api.call<RenewResponse>(api.lock, 'Renew', { lease_id }),
    release: (lease_id: string, name = '') =>
      api.call<ReleaseResponse>(api.lock, 'Release', { lease_id, name }),
    describe: (name: string) => api.call<DescribeResponse>(api.lock, 'Describe', { name }),
    campaign: (req: object, timeoutMs?: number) =>
      api.call<CampaignResponse>(api.election, 'Campaign', req, timeoutMs),
    proclaim: (election: string, lease_id: string, value: string) =>
      api.call<ProclaimResponse>(api.election, 'Proclaim', { election, lease_id, value }),
    resign: (election: string, lease_id: string) =>
      api.call<ResignResponse>(api.election, 'Resign', { election, lease_id }),
    leader: (election: string) => api.call<LeaderResponse>(api.election, 'Leader', { election }),
    status: () => api.call<StatusResponse>(api.cluster, 'Status', {}, 2_000),
  };
}
export type Methods = ReturnType<typeof methods>;

/** The cluster's leader and one follower, as agreed by every running node. */
export async function roles(c: LocalCluster): Promise<{ leader: string; follower: string }> {
  const leader = await c.leader();
  return { leader, follower: c.ids.find((id) => id !== leader)! };
}

/** A well-formed lease id (16 hex digits) that no node ever handed out. */
export function unknownLeaseId(): string {
  return randomBytes(8).toString('hex');
}

let counter = 0;
/** A lock or election name no other test uses. */
export function fresh(what: string): string {
  return `${what}-${process.pid}-${++counter}`;
}

/** A promise whose settlement can be checked without awaiting it. */
export function track<T>(p: Promise<T>): {
  promise: Promise<T>;
  settled: () => boolean;
} {
  let done = false;
  const promise = p.finally(() => {
    done = true;
  });
  void ignoreRejection(promise, 'the test checks the outcome through the returned promise');
  return { promise, settled: () => done };
}

/** Every running node still answers Status (nothing a test sent crashed one). */
export async function expectAllUp(c: LocalCluster): Promise<void> {
  for (const id of c.ids) {
    expect(c.isUp(id)).toBe(true);
    const s = await c.status(id);
    expect(s.id).toBe(id);
  }
}

/**
 * A gauge of the replicated lock state as node `id` has applied it, from its /metrics: what the
 * API cannot show, such as candidates queued in an election or the number of live leases.
 */
export async function stateGauge(
  c: LocalCluster,
  id: string,
  name: 'leases_active' | 'lock_waiters',
  labels: Readonly<Record<string, string>> = {},
): Promise<number> {
  return valueOf(await scrape(c.node(id).http), `quorumlock_${name}`, labels);
}
