// The Dockerfile, docker-compose.yml and prometheus.yml agree with each other and with the
// server's configuration schema; no Docker engine is needed.
import { existsSync, readFileSync } from 'node:fs';
import { posix, resolve } from 'node:path';
import {
  configFrom,
  DEPLOY,
  hostOf,
  portOf,
  present,
  readYaml,
  ROOT,
  unknownVariables,
} from './manifests.js';

interface Instruction {
  op: string;
  args: string;
}

function dockerfile(): Instruction[] {
  const text = readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

const steps = dockerfile();
const runtime = steps.slice(steps.map((s) => s.op).lastIndexOf('FROM'));
const imageEnv: Record<string, string> = Object.fromEntries(
  runtime
    .filter((s) => s.op === 'ENV')
    .flatMap((s) => s.args.split(/\s+/).map((kv) => kv.split('=') as [string, string])),
);

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  hostname?: string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  command?: string[];
  healthcheck?: { test: string[] };
}
const compose = readYaml<{ services: Record<string, ComposeService>; volumes: object }>(
  'docker-compose.yml',
);
const nodes = Object.entries(compose.services).filter(([, s]) => s.environment?.QUORUMLOCK_ID);
const mountOf = (s: ComposeService, target: string) =>
  (s.volumes ?? []).map((v) => v.split(':')).find(([, t]) => t === target)?.[0];

describe('Dockerfile', () => {
  it('builds in one stage and runs in another, as a non-root user', () => {
    expect(steps.filter((s) => s.op === 'FROM').length).toBeGreaterThanOrEqual(2);
    expect(runtime.some((s) => s.op === 'COPY' && s.args.startsWith('--from='))).toBe(true);
    const user = runtime.filter((s) => s.op === 'USER').at(-1)?.args ?? 'root';
    expect(user.split(':')[0]).not.toMatch(/^(root|0)$/);
  });

  it('runs `quorumlock serve` from the built CLI', () => {
    const bin = (
      JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as {
        bin: { quorumlock: string };
      }
    ).bin.quorumlock;
    const entry = JSON.parse(runtime.find((s) => s.op === 'ENTRYPOINT')!.args) as string[];
    const cmd = JSON.parse(runtime.find((s) => s.op === 'CMD')!.args) as string[];
    expect(entry).toEqual(['node', bin]);
    expect(cmd).toEqual(['serve']);
  });

  it('sets only server variables, keeps data on the volume and exposes the bound ports', () => {
    expect(unknownVariables(imageEnv)).toEqual([]);
    const volumes = JSON.parse(runtime.find((s) => s.op === 'VOLUME')!.args) as string[];
    expect(volumes).toContain(imageEnv.QUORUMLOCK_DATA_DIR);
    const exposed = runtime
      .filter((s) => s.op === 'EXPOSE')
      .flatMap((s) => s.args.split(/\s+/).map(Number));
    const bound = ['CLIENT_LISTEN_ADDRESS', 'PEER_ADDRESS', 'HTTP_ADDRESS'].map((k) =>
      portOf(imageEnv[`QUORUMLOCK_${k}`]),
    );
    expect(exposed.sort()).toEqual(bound.sort());
    for (const k of ['CLIENT_LISTEN_ADDRESS', 'PEER_ADDRESS', 'HTTP_ADDRESS'])
      expect(hostOf(imageEnv[`QUORUMLOCK_${k}`])).toBe('0.0.0.0');
  });
});

describe('docker-compose.yml', () => {
  it('runs three nodes from the Dockerfile, each a valid server configuration', () => {
    expect(nodes.map(([name]) => name)).toEqual(['n1', 'n2', 'n3']);
    for (const [name, s] of nodes) {
      expect(s.build?.dockerfile).toBe('Dockerfile');
      expect(existsSync(resolve(DEPLOY, s.build!.context, s.build!.dockerfile))).toBe(true);
      expect(unknownVariables(s.environment!)).toEqual([]);
      const config = configFrom({ ...imageEnv, ...s.environment! });
      expect(config.id).toBe(name);
      expect(s.hostname).toBe(name);
      // Peers reach each other by service name on the port each binds.
      for (const [id, addr] of Object.entries(config.peers)) {
        expect(hostOf(addr)).toBe(id);
        expect(portOf(addr)).toBe(portOf(config.peerAddress));
      }
      expect(hostOf(config.clientAddress)).toBe(name);
    }
  });

  it('publishes the client port, mounts the data dir and probes the metrics port', () => {
    for (const [name, s] of nodes) {
      const config = configFrom({ ...imageEnv, ...s.environment! });
      const listen = portOf(config.clientListenAddress ?? config.clientAddress);
      expect(s.ports?.map((p) => Number(p.split(':').at(-1)))).toEqual([listen]);
      const volume = mountOf(s, config.dataDir);
      expect(volume).toBe(`${name}-data`);
      expect(compose.volumes).toHaveProperty(volume!);
      expect(s.healthcheck?.test.join(' ')).toContain(`:${portOf(config.httpAddress)}/healthz`);
    }
  });

  it('gives Prometheus the scrape config and rules, and Grafana the dashboard', () => {
    const prom = present(compose.services.prometheus, 'prometheus service');
    const promConfig = mountOf(prom, '/etc/prometheus/prometheus.yml');
    expect(promConfig).toBe('./prometheus/prometheus.yml');
    expect(existsSync(resolve(DEPLOY, promConfig!))).toBe(true);
    const rules = readYaml<{ rule_files: string[] }>('prometheus/prometheus.yml').rule_files;
    // Prometheus reads a relative rule file next to its config file, as promtool does here.
    for (const file of rules) {
      const inContainer = posix.resolve('/etc/prometheus', file);
      expect(existsSync(resolve(DEPLOY, mountOf(prom, inContainer)!))).toBe(true);
    }

    const grafana = present(compose.services.grafana, 'grafana service');
    expect(existsSync(resolve(DEPLOY, mountOf(grafana, '/etc/grafana/provisioning')!))).toBe(true);
    const [provider] = readYaml<{ providers: { options: { path: string } }[] }>(
      'grafana/provisioning/dashboards/quorumlock.yml',
    ).providers;
    const dashboard = (grafana.volumes ?? [])
      .map((v) => v.split(':'))
      .find(([, target = '']) => posix.dirname(target) === provider?.options.path);
    expect(dashboard?.[0]).toBe('./grafana/quorumlock-dashboard.json');
    const [source] = readYaml<{ datasources: { url: string }[] }>(
      'grafana/provisioning/datasources/prometheus.yml',
    ).datasources;
    const promPort = prom.ports?.[0]?.split(':').at(-1);
    expect(source?.url).toBe(`http://prometheus:${promPort}`);
  });
});

describe('prometheus.yml', () => {
  it('scrapes /metrics on the metrics address of every node', () => {
    const config = readYaml<{
      scrape_configs: {
        job_name: string;
        metrics_path?: string;
        static_configs: { targets: string[] }[];
      }[];
    }>('prometheus/prometheus.yml');
    const job = config.scrape_configs.find((j) => j.job_name === 'quorumlock')!;
    expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    const targets = job.static_configs.flatMap((c) => c.targets);
    expect(targets).toEqual(
      nodes.map(([name, s]) => {
        const config = configFrom({ ...imageEnv, ...s.environment! });
        return `${name}:${portOf(config.httpAddress)}`;
      }),
    );
  });
});
