// The Grafana dashboard and the Prometheus rules query only metrics the service really exports.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { exportedNames } from './live-node.js';
import { metricNames } from './promql.js';

const DEPLOY = resolve(process.cwd(), 'deploy');
const read = (path: string) => readFileSync(resolve(DEPLOY, path), 'utf8');

interface Panel {
  type: string;
  title?: string;
  datasource?: { uid?: string };
  gridPos?: { x: number; w: number };
  targets?: { expr?: string }[];
  panels?: Panel[];
}

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const dashboard = JSON.parse(read('grafana/quorumlock-dashboard.json')) as {
  uid: string;
  title: string;
  panels: Panel[];
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queries = panels.filter((p) => p.type !== 'row');
const dashboardExprs = queries.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
const rules = (
  parse(read('prometheus/alerts.yml')) as { groups: { rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);

let exported: ReadonlySet<string>;

beforeAll(async () => {
  exported = await exportedNames();
}, 30_000);

describe('the live exposition', () => {
  it('has the names the dashboards and alerts are built on', () => {
    for (const name of [
      'quorumlock_raft_term',
      'quorumlock_raft_is_leader',
      'quorumlock_raft_leader_changes_total',
      'quorumlock_raft_storage_fsync_duration_seconds_bucket',
      'quorumlock_lock_acquires_total',
      'quorumlock_lock_acquire_duration_seconds_count',
      'grpc_server_handled_total',
      'grpc_server_handling_seconds_sum',
      'quorumlock_process_cpu_seconds_total',
      'quorumlock_nodejs_eventloop_lag_seconds',
    ])
      expect(exported).toContain(name);
  });
});

describe('Grafana dashboard', () => {
  it('is a dashboard whose panels all query the provisioned Prometheus', () => {
    const ds = parse(read('grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: { uid: string; type: string }[];
    };
    const uid = ds.datasources.find((d) => d.type === 'prometheus')!.uid;
    expect(dashboard.uid).toBe('quorumlock');
    expect(queries.length).toBeGreaterThan(20);
    for (const p of queries) {
      expect(p.datasource?.uid).toBe(uid);
      expect(p.targets?.length).toBeGreaterThan(0);
      expect(p.gridPos!.x + p.gridPos!.w).toBeLessThanOrEqual(24);
    }
  });

  it('queries only exported metrics', () => {
    const unknown = dashboardExprs.flatMap((e) => metricNames(e)).filter((n) => !exported.has(n));
    expect(unknown).toEqual([]);
  });

  it('covers the cluster, replication, storage, locks and gRPC', () => {
    const used = new Set(dashboardExprs.flatMap((e) => metricNames(e)));
    for (const name of [
      'quorumlock_raft_leader_info',
      'quorumlock_raft_term',
      'quorumlock_raft_commit_index',
      'quorumlock_raft_applied_index',
      'quorumlock_raft_replication_lag_entries',
      'quorumlock_raft_storage_fsync_duration_seconds_bucket',
      'quorumlock_raft_storage_entries_per_write_sum',
      'quorumlock_lock_acquires_total',
      'quorumlock_lock_acquire_duration_seconds_bucket',
      'quorumlock_locks_held',
      'quorumlock_lock_waiters',
      'quorumlock_leases_expired_total',
      'grpc_server_handled_total',
    ])
      expect(used).toContain(name);
    expect(
      dashboardExprs.some((e) => /grpc_code!="OK"/.test(e) && /by \(grpc_code\)/.test(e)),
    ).toBe(true);
  });
});

describe('Prometheus alerts', () => {
  it('has the rules an operator needs, each with a severity and a summary', () => {
    const names = rules.map((r) => r.alert);
    for (const name of [
      'QuorumLockNoLeader',
      'QuorumLockFrequentLeaderChanges',
      'QuorumLockFollowerLagging',
      'QuorumLockSlowFsync',
      'QuorumLockHighAcquireErrorRate',
    ])
      expect(names).toContain(name);
    expect(new Set(names).size).toBe(names.length);
    for (const r of rules) {
      expect(r.labels?.['severity']).toMatch(/^(critical|warning)$/);
      expect(r.annotations?.['summary']).toBeTruthy();
      if (r.for !== undefined) expect(r.for).toMatch(/^\d+[smh]$/);
    }
  });

  it('use only exported metrics', () => {
    const unknown = rules.flatMap((r) => metricNames(r.expr)).filter((n) => !exported.has(n));
    expect(unknown).toEqual([]);
  });
});

describe('metricNames', () => {
  it('finds names and skips functions, labels, ranges, grouping and variables', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{x="y or z"}[5m]))) > 1e3 ' +
          'or on (instance) b unless absent(c) / sum(d offset 5m) by (le) + e[$__rate_interval]',
      ),
    ).toEqual(['a_bucket', 'b', 'c', 'd', 'e']);
  });
});
