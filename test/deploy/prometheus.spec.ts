// The monitoring files, proven with the real tools (Debian's prometheus package): promtool
// checks the config and the rules and runs the alerts' unit tests, and a real Prometheus server
// scrapes a live 3-node cluster under lock traffic, where every dashboard panel's expression
// returns data, every metric an alert reads exists, and a killed node puts its alert in pending.
import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify, parse } from 'yaml';
import { QuorumLockClient, type Lock } from '@quorumlock/client';
import { freePort } from '../../libs/testing/src/ports.js';
import { Child, removeTempDir, tempDir } from '../../libs/testing/src/processes.js';
import { sleep, waitFor } from '../../libs/testing/src/wait.js';
import { LocalCluster } from '../support/cluster.js';
import { metricNames } from './promql.js';

const DEPLOY = resolve(process.cwd(), 'deploy');

function promtool(...args: string[]): Promise<string> {
  return new Promise((ok, fail) =>
    execFile('promtool', args, { cwd: join(DEPLOY, 'prometheus') }, (err, stdout, stderr) =>
      err
        ? fail(new Error(`promtool ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`))
        : ok(stdout + stderr),
    ),
  );
}

interface Panel {
  type: string;
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every panel query of the dashboard, with Grafana's variables replaced as Grafana would. */
function dashboardQueries(): { title: string; expr: string }[] {
  const d = JSON.parse(readFileSync(join(DEPLOY, 'grafana/quorumlock-dashboard.json'), 'utf8')) as {
    panels: Panel[];
  };
  const panels = d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  return panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      title: p.title ?? '',
      // Four scrape intervals, as Grafana's $__rate_interval is at least.
      expr: (t.expr ?? '').replaceAll('$__rate_interval', '4s'),
    })),
  );
}

const alertRules = () =>
  (
    parse(readFileSync(join(DEPLOY, 'prometheus/alerts.yml'), 'utf8')) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    }
  ).groups.flatMap((g) => g.rules);

describe('promtool', () => {
  it('checks the config, with its rule file', async () => {
    expect(await promtool('check', 'config', 'prometheus.yml')).toMatch(
      /SUCCESS: 1 rule files found/,
    );
  });

  it('checks the rules', async () => {
    expect(await promtool('check', 'rules', 'alerts.yml')).toMatch(/SUCCESS: 8 rules found/);
  });

  it("passes the alerts' unit tests, which cover every alert firing and staying silent", async () => {
    expect(await promtool('test', 'rules', 'alerts.test.yml')).toMatch(/SUCCESS/);
    const tests = readFileSync(join(DEPLOY, 'prometheus/alerts.test.yml'), 'utf8');
    for (const { alert } of alertRules()) {
      expect(tests).toMatch(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
      expect(tests).toContain(`alertname: ${alert}, exp_alerts: [] }`);
    }
  });
});

describe('a real Prometheus scraping a live 3-node cluster', () => {
  const cluster = new LocalCluster();
  const dir = tempDir('quorumlock-prometheus-');
  let prometheus: Child | undefined;
  let api = '';
  const client = () => new QuorumLockClient({ endpoints: cluster.endpoints() });
  let traffic: { stop: () => Promise<void> } | undefined;

  beforeAll(async () => {
    await cluster.start();
    copyFileSync(join(DEPLOY, 'prometheus/alerts.yml'), join(dir, 'alerts.yml'));
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: ['alerts.yml'],
      scrape_configs: [
        {
          job_name: 'quorumlock',
          static_configs: [{ targets: cluster.live().map((id) => cluster.node(id).http) }],
        },
      ],
    };
    writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    prometheus = new Child(
      'prometheus',
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { logFile: join(dir, 'prometheus.log') },
    );
    await prometheus.waitFor('Prometheus to be ready', async () => {
      const r = await fetch(`${api}/-/ready`).catch(() => undefined);
      return r?.ok;
    });
    traffic = startTraffic(client());
    await waitFor(
      'every node scraped',
      async () => (await query('count(up == 1) == 3')).length > 0,
    );
  }, 90_000);

  afterAll(async () => {
    await traffic?.stop();
    await prometheus?.stop('SIGTERM');
    await cluster.stop();
    removeTempDir(dir);
  });

  async function query(expr: string): Promise<unknown[]> {
    const r = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await r.json()) as {
      status: string;
      error?: string;
      data?: { result: unknown[] };
    };
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? r.status}`);
    return body.data?.result ?? [];
  }

  it('answers every dashboard panel query with data', async () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(30);
    for (const { title, expr } of queries)
      await waitFor(
        `"${title}": ${expr} to return data`,
        async () => (await query(expr)).length > 0,
        30_000,
      );
  }, 180_000);

  it('has every metric an alert reads, and evaluates every alert expression', async () => {
    for (const { alert, expr } of alertRules()) {
      await query(expr);
      for (const name of metricNames(expr))
        await waitFor(
          `${alert}: ${name} to exist`,
          async () => (await query(`count({__name__="${name}"})`)).length > 0,
          30_000,
        );
    }
  }, 120_000);

  async function alertState(name: string): Promise<string> {
    const r = await fetch(`${api}/api/v1/alerts`);
    const body = (await r.json()) as {
      data: { alerts: { labels: { alertname: string }; state: string }[] };
    };
    return body.data.alerts.find((a) => a.labels.alertname === name)?.state ?? 'inactive';
  }

  it('puts QuorumLockMembersMissing in pending when a node is killed, not before', async () => {
    const alert = 'QuorumLockMembersMissing';
    // Inactive once every node has been scraped (the first evaluations may have seen only some
    // of them), and through several evaluations with all up.
    await waitFor(`${alert} to be inactive`, async () => (await alertState(alert)) === 'inactive');
    for (let i = 0; i < 3; i++) {
      expect(await alertState(alert)).toBe('inactive');
      await sleep(1000);
    }
    const leader = await cluster.leader();
    const follower = cluster.live().find((id) => id !== leader)!;
    await cluster.kill(follower);
    await waitFor(
      `${alert} to be pending`,
      async () => (await alertState(alert)) === 'pending',
      30_000,
    );
  }, 60_000);
});

/**
 * A little of everything the dashboard shows: locks granted, contended and released, a renewal
 * of an unknown lease (an error code), an election with a leader, a watch stream, waiters.
 */
function startTraffic(c: QuorumLockClient): { stop: () => Promise<void> } {
  let running = true;
  const abort = new AbortController();
  const loops = [
    (async () => {
      for (let i = 0; running; i++) {
        const lock: Lock = await c.acquire(`prom/${i % 5}`, { ttlMs: 2000 });
        await c.tryAcquire(`prom/${i % 5}`);
        await c.renew('00000000000000ff').catch(() => undefined);
        await lock.release();
        await sleep(20);
      }
      // Ends with the cluster: the last test kills a node.
    })().catch(() => undefined),
    (async () => {
      const held = await c.acquire('prom/queue', { ttlMs: 5000 });
      const waiting = c
        .acquire('prom/queue', { waitMs: 600_000, signal: abort.signal })
        .catch(() => undefined);
      const leader = await c.campaign('prom/election', 'v');
      for await (const _ of c.watch('prom/', { signal: abort.signal })) if (!running) break;
      await Promise.all([held.release(), leader.resign(), waiting]);
    })().catch(() => undefined),
  ];
  return {
    stop: async () => {
      running = false;
      abort.abort();
      await Promise.allSettled(loops);
      await c.close();
    },
  };
}
