// The TLS of the server's two planes. The client plane is the gRPC API and the HTTP listener;
// the peer plane is the Raft transport, both ways, and the calls followers forward to the
// leader. Each plane is plaintext unless its certificate is configured (config.ts refuses a
// plaintext listener off loopback without --insecure).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ConfigError, type ServerConfig } from '../config/config.js';
import { PlaneCertificates, type PlaneFiles } from './plane-certificates.js';
import type { PemMaterial } from './pem.js';

/** What the HTTPS server is created with, and (without the request fields) updated with. */
export interface HttpsSettings {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
  readonly requestCert?: boolean;
  readonly rejectUnauthorized?: boolean;
}

function planeFiles(
  plane: string,
  cert: { setting: PlaneFiles['cert']['setting']; path: string | undefined },
  key: { setting: PlaneFiles['key']['setting']; path: string | undefined },
  ca: { setting: PlaneFiles['cert']['setting']; path: string | undefined },
): PlaneFiles | undefined {
  if (cert.path === undefined || key.path === undefined) return undefined;
  return {
    plane,
    cert: { setting: cert.setting, path: cert.path },
    key: { setting: key.setting, path: key.path },
    ...(ca.path === undefined ? {} : { ca: { setting: ca.setting, path: ca.path } }),
  };
}

/**
 * grpc-js 1.14 passes its arguments on to the credentials as (identity, CA), whatever its typings
 * call them; the second, null or not, decides whether clients are asked for a certificate.
 */
function serverCredentials(
  c: PlaneCertificates,
  requireClientCert: boolean,
): grpc.ServerCredentials {
  const ca = c.current.ca === undefined ? null : c;
  return grpc.experimental.createCertificateProviderServerCredentials(c, ca, requireClientCert);
}

export class TransportSecurity {
  /** The client plane's certificates; undefined: plaintext. */
  readonly client: PlaneCertificates | undefined;
  /** The peer plane's certificates; undefined: plaintext. */
  readonly peer: PlaneCertificates | undefined;
  /** gRPC API credentials. */
  readonly clientServer: grpc.ServerCredentials;
  /** Raft transport and forwarded calls: the listener, and the calls this node makes. */
  readonly peerServer: grpc.ServerCredentials;
  readonly peerChannel: grpc.ChannelCredentials;
  /** Whether /metrics needs a client certificate (probes never do: kubelets have none). */
  readonly metricsNeedClientCert: boolean;

  /**
   * Reads and checks every configured file. Throws one ConfigError listing each unusable
   * file with its setting, so that one failed start tells everything to fix.
   */
  constructor(config: ServerConfig, logger: Logger) {
    const client = planeFiles(
      'client',
      { setting: 'certFile', path: config.certFile },
      { setting: 'keyFile', path: config.keyFile },
      { setting: 'trustedCaFile', path: config.trustedCaFile },
    );
    const peer = planeFiles(
      'peer',
      { setting: 'peerCertFile', path: config.peerCertFile },
      { setting: 'peerKeyFile', path: config.peerKeyFile },
      { setting: 'peerTrustedCaFile', path: config.peerTrustedCaFile },
    );
    const problems: string[] = [];
    const load = (files: PlaneFiles | undefined) => {
      if (files === undefined) return undefined;
      try {
        return new PlaneCertificates(files, logger);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(...e.problems);
        return undefined;
      }
    };
    this.client = load(client);
    this.peer = load(peer);
    if (problems.length > 0) throw new ConfigError(problems);

    this.clientServer = this.client
      ? serverCredentials(this.client, config.clientCertAuth)
      : grpc.ServerCredentials.createInsecure();
    this.peerServer = this.peer
      ? serverCredentials(this.peer, config.peerClientCertAuth)
      : grpc.ServerCredentials.createInsecure();
    // Peers are dialled by the names in --peers, which their certificates must carry.
    this.peerChannel = this.peer
      ? grpc.experimental.createCertificateProviderChannelCredentials(this.peer, this.peer)
      : grpc.credentials.createInsecure();
    this.metricsNeedClientCert = this.client !== undefined && config.clientCertAuth;
  }

  /**
   * Whether a call on the peer plane comes from a member: one that showed a certificate the peer
   * CA signed. Without peer TLS (loopback, or --insecure) nothing can tell, and every caller is.
   */
  fromMember(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>): boolean {
    if (this.peer === undefined) return true;
    // grpc-js gives the peer's certificate only when it verified against the CA.
    return call.getAuthContext().sslPeerCertificate !== undefined;
  }

  /** The HTTPS server's options, when the client plane has TLS. */
  httpsOptions(): HttpsSettings | undefined {
    if (this.client === undefined) return undefined;
    return {
      ...secureContext(this.client.current),
      // Asked for so that /metrics can check it; probes come without one.
      requestCert: this.client.current.ca !== undefined,
      rejectUnauthorized: false,
    };
  }

  /** Calls back with the HTTPS server's new secure context whenever the client plane's changes. */
  onHttpsChange(listener: (context: HttpsSettings) => void): void {
    this.client?.onChange((m) => listener(secureContext(m)));
  }

  /** Starts watching the files for changes. */
  watch(): void {
    this.client?.watch();
    this.peer?.watch();
  }

  /** Re-reads every file now (SIGHUP). */
  reload(why: string): void {
    this.client?.reload(why);
    this.peer?.reload(why);
  }

  close(): void {
    this.client?.close();
    this.peer?.close();
  }
}

function secureContext(m: PemMaterial): HttpsSettings {
  return { cert: m.cert, key: m.key, ...(m.ca === undefined ? {} : { ca: m.ca }) };
}
