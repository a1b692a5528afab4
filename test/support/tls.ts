// Certificates for a LocalCluster with mutual TLS on both planes, as the README sets one up: a
// CA for the client plane (the API) and one for the peer plane (members only), made with openssl
// at test time, and what servers, the SDK, the CLI and raw TLS connections need of them.
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { TlsOptions } from '@quorumlock/client';
import { type CertFiles, TestCa } from '../../libs/testing/src/certs.js';
import { removeTempDir, tempDir } from '../../libs/testing/src/processes.js';

export class ClusterPki {
  readonly dir = tempDir('quorumlock-tls-');
  /** Signs the nodes' API certificates and the clients'. */
  readonly clientCa = TestCa.create(this.dir, 'client-ca');
  /** Signs the members' peer certificates only. */
  readonly peerCa = TestCa.create(this.dir, 'peer-ca');
  /** Trusted by nobody. */
  readonly otherCa = TestCa.create(this.dir, 'other-ca');
  /** Every node's API certificate (they all listen on 127.0.0.1). */
  readonly server = this.clientCa.issue('server');
  /** Every member's peer certificate, to serve and to dial with. */
  readonly peer = this.peerCa.issue('peer');
  readonly alice = this.clientCa.issue('alice', { sans: [], usage: 'client' });
  /** A client certificate from the other CA. */
  readonly mallory = this.otherCa.issue('mallory', { sans: [], usage: 'client' });
  /** A peer certificate from the other CA, valid for 127.0.0.1 like the members'. */
  readonly rogue = this.otherCa.issue('rogue');

  /** `serve` flags: mutual TLS on both planes. */
  flags(peer: CertFiles = this.peer): string[] {
    return [
      ...['--cert-file', this.server.cert, '--key-file', this.server.key],
      ...['--trusted-ca-file', this.clientCa.cert, '--client-cert-auth'],
      ...['--peer-cert-file', peer.cert, '--peer-key-file', peer.key],
      ...['--peer-trusted-ca-file', this.peerCa.cert, '--peer-client-cert-auth'],
    ];
  }

  /** The SDK's TLS option for a client holding `pair` (none: CA only). */
  sdk(pair?: CertFiles, ca = this.clientCa.cert): TlsOptions {
    return {
      ca: readFileSync(ca),
      ...(pair ? { cert: readFileSync(pair.cert), key: readFileSync(pair.key) } : {}),
    };
  }

  /** grpc-js credentials of a client holding `pair`. */
  credentials(pair: CertFiles = this.alice): grpc.ChannelCredentials {
    const { ca, cert, key } = this.sdk(pair) as { ca: Buffer; cert: Buffer; key: Buffer };
    return grpc.credentials.createSsl(ca, key, cert);
  }

  remove(): void {
    removeTempDir(this.dir);
  }
}

/**
 * The SHA-256 fingerprint of the certificate a new TLS connection to address is shown, dialling
 * with `pair` (the server may require a client certificate) and trusting `ca`.
 */
export function servedFingerprint(address: string, ca: string, pair: CertFiles): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), address.split(':').at(-1)];
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port: Number(port),
      ca: readFileSync(ca),
      cert: readFileSync(pair.cert),
      key: readFileSync(pair.key),
      ALPNProtocols: ['h2', 'http/1.1'],
    });
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}
