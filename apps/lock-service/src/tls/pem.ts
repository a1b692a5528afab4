// Checks of PEM files before any listener uses them: at start a bad file must stop the server
// with the setting named, and on reload it must be refused before it replaces a good one.
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Which of a plane's files a problem is about. */
export type PemRole = 'cert' | 'key' | 'ca';

export class PemError extends Error {
  constructor(
    readonly role: PemRole,
    message: string,
  ) {
    super(message);
    this.name = 'PemError';
  }
}

/** The certificates of a PEM bundle, in order; at least one. */
export function parseCertificates(pem: Buffer, role: 'cert' | 'ca'): X509Certificate[] {
  const blocks = pem.toString('utf8').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new PemError(role, 'holds no PEM certificate');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (e) {
      throw new PemError(role, `certificate ${i + 1} does not parse: ${(e as Error).message}`);
    }
  });
}

function parseKey(pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (e) {
    const reason = (e as Error).message;
    throw new PemError(
      'key',
      /passphrase/i.test(reason)
        ? 'is encrypted: give an unencrypted key (file permissions protect it)'
        : `holds no usable PEM private key (${reason})`,
    );
  }
}

/** A plane's certificate, its key and the CA bundle its peers are verified against. */
export interface PemMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
  /** The first certificate of `cert`: the one this node presents. */
  readonly leaf: X509Certificate;
}

/**
 * Checks that the files make a working TLS identity: every certificate parses, the key is the
 * certificate's, and Node's TLS accepts the lot. Throws a PemError naming the file at fault.
 */
export function checkMaterial(cert: Buffer, key: Buffer, ca?: Buffer): PemMaterial {
  const [leaf] = parseCertificates(cert, 'cert');
  const privateKey = parseKey(key);
  if (!leaf!.checkPrivateKey(privateKey)) {
    throw new PemError('key', 'is not the private key of the certificate');
  }
  if (ca !== undefined) parseCertificates(ca, 'ca');
  try {
    createSecureContext({ cert, key, ...(ca === undefined ? {} : { ca }) });
  } catch (e) {
    throw new PemError('cert', `is refused by TLS: ${(e as Error).message}`);
  }
  return { cert, key, ...(ca === undefined ? {} : { ca }), leaf: leaf! };
}

/** Identifies the certificate in logs without its secrets. */
export function describeCertificate(leaf: X509Certificate): Record<string, string> {
  return {
    subject: leaf.subject.replace(/\n/g, ', '),
    serial: leaf.serialNumber,
    notAfter: leaf.validTo,
    fingerprint: leaf.fingerprint256,
  };
}
