import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fingerprint, TestCa } from '../src/certs.js';
import { removeTempDir, tempDir } from '../src/processes.js';

const x509 = (file: string) => new X509Certificate(readFileSync(file));

describe('TestCa', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('certs-spec-');
  });
  afterAll(() => removeTempDir(dir));

  it('signs server and client certificates that verify against it and no other CA', () => {
    const ca = TestCa.create(dir, 'ca');
    const other = TestCa.create(dir, 'other');
    expect(x509(ca.cert).ca).toBe(true);
    const server = ca.issue('server');
    const client = ca.issue('client', { cn: 'alice', sans: [], usage: 'client' });
    const leaf = x509(server.cert);
    expect(leaf.subject).toBe('CN=server');
    expect(leaf.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost');
    expect(leaf.checkIssued(x509(ca.cert))).toBe(true);
    expect(leaf.verify(x509(ca.cert).publicKey)).toBe(true);
    expect(leaf.verify(x509(other.cert).publicKey)).toBe(false);
    expect(leaf.checkPrivateKey(createPrivateKey(readFileSync(server.key)))).toBe(true);
    expect(x509(client.cert).subject).toBe('CN=alice');
    expect(x509(client.cert).subjectAltName).toBeUndefined();
    expect(x509(client.cert).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('replaces the files when the same name is issued again (rotation)', () => {
    const ca = TestCa.create(dir, 'rotating-ca');
    const first = ca.issue('node');
    const before = fingerprint(first.cert);
    const second = ca.issue('node');
    expect(second).toEqual(first);
    expect(fingerprint(second.cert)).not.toBe(before);
  });
});
