// deploy/docker-compose.yml's TLS: the certificates deploy/make-certs.sh makes (run here, with
// openssl) are the files each node's settings name through its mount, the server accepts them,
// they carry the names peers and clients check, and the health check and Prometheus use them.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { posix, resolve } from 'node:path';
import { pino } from 'pino';
import { TransportSecurity } from '../../apps/lock-service/src/tls/transport-security.js';
import { removeTempDir, tempDir } from '../../libs/testing/src/processes.js';
import { configFrom, DEPLOY, hostOf, present, readYaml } from './manifests.js';

interface ComposeService {
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
}
const compose = readYaml<{ services: Record<string, ComposeService> }>('docker-compose.yml');
const nodes = Object.entries(compose.services).filter(([, s]) => s.environment?.QUORUMLOCK_ID);
const TLS_FILES = [
  'certFile',
  'keyFile',
  'trustedCaFile',
  'peerCertFile',
  'peerKeyFile',
  'peerTrustedCaFile',
] as const;

/** The host directory (relative to deploy/) mounted at the container directory holding path. */
function hostDirOf(s: ComposeService, path: string): string {
  const mount = (s.volumes ?? [])
    .map((v) => v.split(':'))
    .find(([, target]) => target !== undefined && posix.dirname(path) === target);
  return present(mount?.[0], `mount of ${posix.dirname(path)}`);
}

describe('docker-compose.yml TLS', () => {
  let certs: string;
  beforeAll(() => {
    certs = tempDir('compose-certs-');
    execFileSync(resolve(DEPLOY, 'make-certs.sh'), [certs], { stdio: 'pipe' });
  });
  afterAll(() => removeTempDir(certs));

  const x509 = (file: string) => new X509Certificate(readFileSync(resolve(certs, file)));

  it('runs each node with TLS on the client plane and mutual TLS on the peer plane, from files make-certs.sh makes and the node mounts', () => {
    for (const [name, s] of nodes) {
      const config = configFrom(s.environment!);
      expect(config).toMatchObject({ clientCertAuth: false, peerClientCertAuth: true });
      // The server itself reads and checks the files, mapped to where make-certs.sh put them.
      const local = { ...config };
      for (const k of TLS_FILES) {
        const path = present(config[k], k);
        expect(hostDirOf(s, path)).toBe('./certs');
        local[k] = resolve(certs, posix.basename(path));
      }
      const security = new TransportSecurity(local, pino({ level: 'silent' }));
      security.close();
      // Members dial each other by service name (--peers); clients by it too, or localhost.
      const own = (k: 'certFile' | 'peerCertFile') => x509(posix.basename(config[k]!));
      expect(hostOf(config.peers[name])).toBe(name);
      expect(own('peerCertFile').checkHost(name)).toBe(name);
      expect(own('certFile').checkHost(hostOf(config.clientAddress))).toBe(name);
      expect(own('certFile').checkHost('localhost')).toBe('localhost');
      // The planes' CAs differ: a client certificate is no member's.
      expect(config.trustedCaFile).not.toBe(config.peerTrustedCaFile);
    }
  });

  it('checks health over HTTPS with the client CA it mounts', () => {
    for (const [, s] of nodes) {
      const check = present(s.healthcheck, 'healthcheck').test.join(' ');
      const ca = present(s.environment?.QUORUMLOCK_TRUSTED_CA_FILE, 'trusted CA');
      expect(check).toContain('https://127.0.0.1:');
      expect(check).toContain(ca);
    }
  });

  it('lets Prometheus scrape HTTPS, verifying the nodes with the CA of their certificates', () => {
    const job = readYaml<{
      scrape_configs: {
        job_name: string;
        scheme?: string;
        tls_config?: Record<string, string>;
      }[];
    }>('prometheus/prometheus.yml').scrape_configs.find((j) => j.job_name === 'quorumlock')!;
    expect(job.scheme).toBe('https');
    const tls = present(job.tls_config, 'tls_config');
    // Only the CA: the nodes ask /metrics for no certificate without --client-cert-auth, and
    // promtool checks that every certificate a config names exists.
    expect(Object.keys(tls)).toEqual(['ca_file']);
    const prom = present(compose.services.prometheus, 'prometheus service');
    const caFile = present(tls.ca_file, 'ca_file');
    expect(hostDirOf(prom, caFile)).toBe('./certs');
    const node = configFrom(nodes[0]![1].environment!);
    const served = x509(posix.basename(node.certFile!));
    expect(served.checkIssued(x509(posix.basename(caFile)))).toBe(true);
  });
});
