// deploy/k8s against the server's configuration schema: every pod of the StatefulSet gets a
// configuration the server accepts, and ports, probes, volumes and selectors line up.
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  configFrom,
  DEPLOY,
  hostOf,
  type K8sObject,
  portOf,
  present,
  readYaml,
  selects,
  unknownVariables,
  yamlDocuments,
} from './manifests.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface Probe {
  httpGet?: { path: string; port: string | number; scheme?: string };
}
interface Container {
  name: string;
  env: EnvVar[];
  ports: { name: string; containerPort: number }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string> };
}
interface StatefulSetSpec {
  serviceName: string;
  replicas: number;
  podManagementPolicy?: string;
  selector: { matchLabels: Record<string, string> };
  template: {
    metadata: { labels: Record<string, string> };
    spec: {
      containers: Container[];
      securityContext?: Record<string, unknown>;
      volumes?: { name: string; secret?: { secretName: string } }[];
    };
  };
  volumeClaimTemplates: { metadata: { name: string } }[];
}
interface ServicePort {
  name: string;
  port: number;
  targetPort: string | number;
}
interface ServiceSpec {
  clusterIP?: string;
  publishNotReadyAddresses?: boolean;
  selector: Record<string, string>;
  ports: ServicePort[];
}

const docs = yamlDocuments('k8s').map((d) => d.doc);
const ofKind = (kind: string) => docs.filter((d) => d.kind === kind);
const sts = ofKind('StatefulSet')[0] as K8sObject & { spec: StatefulSetSpec };
const spec = sts.spec;
const pod = spec.template;
const container = present(pod.spec.containers[0], 'container in the StatefulSet');
const services = ofKind('Service') as (K8sObject & { spec: ServiceSpec })[];
const headless = services.find((s) => s.metadata.name === spec.serviceName)!;
const ordinals = [...Array(spec.replicas).keys()];

/** The container's environment as the kubelet renders it for pod `name`. */
function envOf(name: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of container.env) {
    if (v.valueFrom) {
      expect(v.valueFrom.fieldRef?.fieldPath).toBe('metadata.name');
      env[v.name] = name;
    } else {
      env[v.name] = (v.value ?? '').replace(/\$\(([A-Z0-9_]+)\)/g, (_, ref: string) => {
        if (!(ref in env)) throw new Error(`${v.name} refers to $(${ref}) before it is defined`);
        return env[ref]!; // checked just above
      });
    }
  }
  return env;
}

const namedPort = (port: string | number) =>
  typeof port === 'number' ? port : container.ports.find((p) => p.name === port)!.containerPort;

describe('deploy/k8s', () => {
  it('holds one StatefulSet of three, with the headless Service it names', () => {
    expect(ofKind('StatefulSet')).toHaveLength(1);
    expect(spec.replicas).toBe(3);
    // OrderedReady would wait for pod 0 to be ready, which needs a quorum: a deadlock.
    expect(spec.podManagementPolicy).toBe('Parallel');
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(selects(spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    expect(selects(headless.spec.selector, pod.metadata.labels)).toBe(true);
  });

  it('gives every pod a configuration the server accepts, its id derived from the pod name', () => {
    expect(unknownVariables(Object.fromEntries(container.env.map((v) => [v.name, v])))).toEqual([]);
    for (const i of ordinals) {
      const name = `${sts.metadata.name}-${i}`;
      const config = configFrom(envOf(name));
      expect(config.id).toBe(name);
      expect(Object.keys(config.peers).sort()).toEqual(
        ordinals.map((j) => `${sts.metadata.name}-${j}`).sort(),
      );
      // Stable peer names through the headless Service; the client address is advertised the same way.
      for (const [id, addr] of Object.entries(config.peers))
        expect(hostOf(addr)).toBe(`${id}.${spec.serviceName}`);
      expect(hostOf(config.clientAddress)).toBe(`${name}.${spec.serviceName}`);
      expect(portOf(config.clientAddress)).toBe(namedPort('client'));
    }
  });

  it('exposes the ports the server binds, on all interfaces', () => {
    const config = configFrom(envOf(`${sts.metadata.name}-0`));
    const listen = config.clientListenAddress ?? config.clientAddress;
    expect(hostOf(listen)).toBe('0.0.0.0');
    expect(hostOf(config.peerAddress)).toBe('0.0.0.0');
    expect(hostOf(config.httpAddress)).toBe('0.0.0.0');
    expect(namedPort('client')).toBe(portOf(listen));
    expect(namedPort('peer')).toBe(portOf(config.peerAddress));
    expect(namedPort('metrics')).toBe(portOf(config.httpAddress));
    for (const p of headless.spec.ports) expect(namedPort(p.targetPort)).toBe(p.port);
  });

  it('keeps the data dir on the pod’s own PersistentVolumeClaim', () => {
    const config = configFrom(envOf(`${sts.metadata.name}-0`));
    expect(spec.volumeClaimTemplates).toHaveLength(1);
    const claim = spec.volumeClaimTemplates[0]?.metadata.name;
    expect(container.volumeMounts).toContainEqual({ name: claim, mountPath: config.dataDir });
  });

  it('probes readiness at /readyz and liveness at /healthz on the metrics port, over HTTPS', () => {
    const metrics = portOf(configFrom(envOf(`${sts.metadata.name}-0`)).httpAddress);
    // The listener is HTTPS once the client plane has TLS; probes need no client certificate.
    expect(container.readinessProbe?.httpGet?.scheme).toBe('HTTPS');
    expect(container.livenessProbe?.httpGet?.scheme).toBe('HTTPS');
    expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(namedPort(container.readinessProbe!.httpGet!.port)).toBe(metrics);
    expect(container.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(namedPort(container.livenessProbe!.httpGet!.port)).toBe(metrics);
  });

  it('stops gracefully, requests resources and runs as the image’s non-root user', () => {
    expect(container.lifecycle?.preStop?.exec?.command.length).toBeGreaterThan(0);
    expect(typeof container.resources?.requests?.cpu).toBe('string');
    expect(typeof container.resources?.requests?.memory).toBe('string');
    expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
  });

  it('routes clients to any pod through a client Service', () => {
    const client = services.find((s) => s !== headless)!;
    expect(client.spec.clusterIP).toBeUndefined();
    expect(selects(client.spec.selector, pod.metadata.labels)).toBe(true);
    expect(client.spec.ports.map((p) => namedPort(p.targetPort))).toEqual([namedPort('client')]);
  });

  it('lets at most one pod be disrupted at a time', () => {
    const pdbs = ofKind('PodDisruptionBudget') as (K8sObject & {
      spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
    })[];
    expect(pdbs).toHaveLength(1);
    const [pdb] = pdbs;
    expect(pdb?.spec.maxUnavailable).toBe(1);
    expect(selects(pdb!.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
  });

  it('scrapes /metrics through a ServiceMonitor on a Service port that reaches the metrics port', () => {
    const monitor = ofKind('ServiceMonitor')[0] as K8sObject & {
      spec: {
        selector: { matchLabels: Record<string, string> };
        endpoints: { port: string; path: string }[];
      };
    };
    const target = services.filter((s) =>
      selects(monitor.spec.selector.matchLabels, s.metadata.labels),
    );
    expect(target).toEqual([headless]);
    const metrics = portOf(configFrom(envOf(`${sts.metadata.name}-0`)).httpAddress);
    for (const e of monitor.spec.endpoints) {
      expect(e.path).toBe('/metrics');
      const port = headless.spec.ports.find((p) => p.name === e.port)!;
      expect(namedPort(port.targetPort)).toBe(metrics);
    }
  });

  it('lists every manifest in kustomization.yaml', () => {
    const { resources } = readYaml<{ resources: string[] }>('k8s/kustomization.yaml');
    const files = readdirSync(resolve(DEPLOY, 'k8s')).filter(
      (f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml',
    );
    expect([...resources].sort()).toEqual(files.sort());
  });
});
