// deploy/k8s's TLS: cert-manager Certificates for both planes, mounted where the server's TLS
// settings point, valid for every name a peer or client checks, and Prometheus's scrape identity.
import { posix } from 'node:path';
import { configFrom, hostOf, type K8sObject, present, yamlDocuments } from './manifests.js';

interface CertificateSpec {
  secretName: string;
  isCA?: boolean;
  commonName?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  usages?: string[];
  issuerRef: { name: string; kind?: string };
}
type Certificate = K8sObject & { spec: CertificateSpec };
type Issuer = K8sObject & { spec: { selfSigned?: object; ca?: { secretName: string } } };
interface Container {
  env: { name: string; value?: string; valueFrom?: object }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string } }[];
}
type StatefulSet = K8sObject & {
  spec: { serviceName: string; replicas: number; template: { spec: PodSpec } };
};

const all = yamlDocuments('k8s');
const docs = all.map((d) => d.doc);
const ofKind = <T>(kind: string) => docs.filter((d) => d.kind === kind) as T[];
const certificates = ofKind<Certificate>('Certificate');
const issuers = ofKind<Issuer>('Issuer');
const sts = ofKind<StatefulSet>('StatefulSet')[0]!;
const pod = sts.spec.template.spec;
const container = present(pod.containers[0], 'container in the StatefulSet');

/** The pod's configuration as the server reads it (the id comes from the pod name). */
function configOf(ordinal: number) {
  const name = `${sts.metadata.name}-${ordinal}`;
  const env: Record<string, string> = {};
  for (const v of container.env) {
    env[v.name] = v.valueFrom
      ? name
      : (v.value ?? '').replace(/\$\(([A-Z0-9_]+)\)/g, (_, r: string) => env[r] ?? '');
  }
  return configFrom(env);
}

/** The Certificate whose secret is mounted where `path` is, and the key it reads there. */
function certificateBehind(path: string): { cert: Certificate; key: string } {
  const mount = present(
    container.volumeMounts.find((m) => posix.dirname(path) === m.mountPath),
    `volume mounted at ${posix.dirname(path)}`,
  );
  expect(mount.readOnly).toBe(true);
  const volume = present(
    pod.volumes?.find((v) => v.name === mount.name),
    `volume ${mount.name}`,
  );
  const secret = present(volume.secret?.secretName, `secret in volume ${mount.name}`);
  const cert = present(
    certificates.find((c) => c.spec.secretName === secret),
    `Certificate writing secret ${secret}`,
  );
  return { cert, key: posix.basename(path) };
}

const issuerOf = (c: Certificate) =>
  present(
    issuers.find((i) => i.metadata.name === c.spec.issuerRef.name),
    `Issuer ${c.spec.issuerRef.name}`,
  );

/** A DNS name, wildcards matching one label, as TLS hostname checks do. */
const covers = (names: readonly string[], host: string) =>
  names.some((n) =>
    n.startsWith('*.') ? host.slice(host.indexOf('.') + 1) === n.slice(2) : n === host,
  );

describe('deploy/k8s TLS', () => {
  const config = configOf(0);

  it('declares cert-manager.io/v1 Certificates and Issuers, each issuer in these files', () => {
    expect(certificates.length).toBeGreaterThan(0);
    for (const d of [...certificates, ...issuers]) expect(d.apiVersion).toBe('cert-manager.io/v1');
    for (const c of certificates) {
      const issuer = issuerOf(c);
      expect(c.spec.issuerRef.kind ?? 'Issuer').toBe('Issuer');
      // A CA Issuer signs with a CA Certificate of these files.
      if (issuer.spec.ca) {
        const ca = certificates.find((x) => x.spec.secretName === issuer.spec.ca!.secretName);
        expect(ca?.spec.isCA).toBe(true);
      } else {
        expect(issuer.spec.selfSigned).toBeDefined();
      }
    }
  });

  it('runs mutual TLS on both planes, every file from a mounted Certificate secret', () => {
    expect(config).toMatchObject({
      clientCertAuth: true,
      peerClientCertAuth: true,
      insecure: false,
    });
    const plane = (cert?: string, key?: string, ca?: string) => {
      const files = [cert, key, ca].map((f) => certificateBehind(present(f, 'TLS file setting')));
      expect(files.map((f) => f.key)).toEqual(['tls.crt', 'tls.key', 'ca.crt']);
      // One secret per plane: its certificate, its key and the CA that issued it.
      expect(new Set(files.map((f) => f.cert))).toEqual(new Set([files[0]!.cert]));
      return files[0]!.cert;
    };
    const client = plane(config.certFile, config.keyFile, config.trustedCaFile);
    const peer = plane(config.peerCertFile, config.peerKeyFile, config.peerTrustedCaFile);
    // A client certificate must never pass for a member: the planes have different CAs.
    expect(issuerOf(client).metadata.name).not.toBe(issuerOf(peer).metadata.name);
    expect(peer.spec.usages).toEqual(expect.arrayContaining(['server auth', 'client auth']));
    expect(client.spec.usages).toContain('server auth');
  });

  it('certifies every name a peer or a client checks', () => {
    const client = certificateBehind(config.certFile!).cert;
    const peer = certificateBehind(config.peerCertFile!).cert;
    for (const i of [...Array(sts.spec.replicas).keys()]) {
      const c = configOf(i);
      // Members dial each other by the names in --peers; clients the advertised address.
      for (const address of Object.values(c.peers))
        expect(covers(peer.spec.dnsNames ?? [], hostOf(address))).toBe(true);
      expect(covers(client.spec.dnsNames ?? [], hostOf(c.clientAddress))).toBe(true);
    }
    const service = docs.find(
      (d) =>
        d.kind === 'Service' && d.metadata.labels?.['app.kubernetes.io/component'] === 'client',
    )!;
    expect(covers(client.spec.dnsNames ?? [], service.metadata.name)).toBe(true);
  });

  it('gives Prometheus a client certificate of the client plane’s CA for /metrics', () => {
    const [monitor] = ofKind<
      K8sObject & {
        spec: {
          endpoints: {
            scheme?: string;
            tlsConfig?: {
              serverName?: string;
              ca?: { secret?: { name: string; key: string } };
              cert?: { secret?: { name: string; key: string } };
              keySecret?: { name: string; key: string };
            };
          }[];
        };
      }
    >('ServiceMonitor');
    const server = certificateBehind(config.certFile!).cert;
    for (const e of monitor!.spec.endpoints) {
      expect(e.scheme).toBe('https');
      const tls = present(e.tlsConfig, 'tlsConfig');
      expect(covers(server.spec.dnsNames ?? [], present(tls.serverName, 'serverName'))).toBe(true);
      const refs = [tls.ca?.secret, tls.cert?.secret, tls.keySecret];
      expect(refs.map((r) => r?.key)).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
      const scraper = present(
        certificates.find((c) => c.spec.secretName === refs[0]?.name),
        'Certificate of the scrape identity',
      );
      expect(new Set(refs.map((r) => r?.name))).toEqual(new Set([scraper.spec.secretName]));
      expect(scraper.spec.usages).toContain('client auth');
      // Its ca.crt is the client plane's CA: the one that issued the server certificate.
      expect(scraper.spec.issuerRef.name).toBe(server.spec.issuerRef.name);
    }
  });
});
