// Certificates for tests, made at test time with the openssl command (Debian's `openssl`
// package): a CA, and server and client certificates it signs. EC P-256 keys, which openssl makes
// in milliseconds. The README's "Securing a cluster" runs the same openssl commands by hand.
import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  /** PEM certificate. */
  readonly cert: string;
  /** PEM private key (unencrypted). */
  readonly key: string;
}

export interface IssueOptions {
  /** Common Name; default: the name. */
  readonly cn?: string;
  /** subjectAltName entries; default IP:127.0.0.1 and DNS:localhost (for servers on loopback). */
  readonly sans?: readonly string[];
  /** Extended key usage; default both, as members use one certificate to serve and to call. */
  readonly usage?: 'server' | 'client' | 'both';
}

const USAGE = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' };
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { stdio: 'pipe' });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString() ?? err.message}`, {
      cause: e,
    });
  }
}

const serial = () => `0x${randomBytes(8).toString('hex')}`;

/** A certificate authority whose files live in dir. */
export class TestCa {
  readonly cert: string;
  readonly key: string;

  private constructor(
    readonly dir: string,
    readonly name: string,
  ) {
    this.cert = join(dir, `${name}.crt`);
    this.key = join(dir, `${name}.key`);
  }

  /** A new self-signed CA, `<dir>/<name>.crt` and `.key`. */
  static create(dir: string, name: string): TestCa {
    const ca = new TestCa(dir, name);
    openssl([
      'req',
      '-x509',
      ...EC_KEY,
      ...['-keyout', ca.key, '-out', ca.cert, '-days', '2', '-subj', `/CN=${name}`],
      ...['-addext', 'basicConstraints=critical,CA:TRUE'],
      ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    ]);
    return ca;
  }

  /**
   * A certificate signed by this CA, `<dir>/<name>.crt` and `.key`. Both files are written
   * elsewhere and renamed into place, so that a server watching them never reads half a file;
   * issuing the same name again replaces them (rotation).
   */
  issue(name: string, o: IssueOptions = {}): CertFiles {
    const files = { cert: join(this.dir, `${name}.crt`), key: join(this.dir, `${name}.key`) };
    const tmp = join(this.dir, `.${name}-${randomBytes(4).toString('hex')}`);
    const sans = o.sans ?? ['IP:127.0.0.1', 'DNS:localhost'];
    writeFileSync(
      `${tmp}.ext`,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        `extendedKeyUsage=${USAGE[o.usage ?? 'both']}`,
        ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
      ].join('\n'),
    );
    try {
      openssl(
        ['req', '-new', ...EC_KEY, '-keyout', `${tmp}.key`, '-out', `${tmp}.csr`].concat([
          '-subj',
          `/CN=${o.cn ?? name}`,
        ]),
      );
      openssl([
        'x509',
        '-req',
        ...['-in', `${tmp}.csr`, '-CA', this.cert, '-CAkey', this.key, '-set_serial', serial()],
        ...['-days', '2', '-extfile', `${tmp}.ext`, '-out', `${tmp}.crt`],
      ]);
      renameSync(`${tmp}.crt`, files.cert);
      renameSync(`${tmp}.key`, files.key);
    } finally {
      for (const ext of ['ext', 'csr', 'crt', 'key']) rmSync(`${tmp}.${ext}`, { force: true });
    }
    return files;
  }
}

/** The SHA-256 fingerprint of a PEM certificate file, as Node's TLS reports a peer's. */
export function fingerprint(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}
