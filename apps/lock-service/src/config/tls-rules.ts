// The TLS settings' rules across fields, per plane: files that go together, certificate checks
// that need a CA, and no plaintext listener off loopback unless --insecure says so. The files
// themselves are read at start (tls/transport-security.ts), not here: a configuration is
// checked where its files may not exist (the deploy tests).

/** The settings these rules read, as the parsed configuration holds them. */
export interface TlsSettings {
  readonly clientAddress: string;
  readonly clientListenAddress?: string;
  readonly peerAddress: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly trustedCaFile?: string;
  readonly clientCertAuth: boolean;
  readonly peerCertFile?: string;
  readonly peerKeyFile?: string;
  readonly peerTrustedCaFile?: string;
  readonly peerClientCertAuth: boolean;
  readonly insecure: boolean;
}

export type TlsSetting = keyof TlsSettings;

export interface TlsProblem {
  readonly key: TlsSetting;
  readonly message: string;
}

/** One plane's settings, and what its listener exposes (said when it is refused). */
interface Plane {
  readonly name: string;
  readonly cert: 'certFile' | 'peerCertFile';
  readonly key: 'keyFile' | 'peerKeyFile';
  readonly ca: 'trustedCaFile' | 'peerTrustedCaFile';
  readonly certAuth: 'clientCertAuth' | 'peerClientCertAuth';
  /** The setting whose address the plane listens on. */
  readonly listen: (cfg: TlsSettings) => { key: TlsSetting; address: string };
  readonly exposure: string;
}

const CLIENT_PLANE: Plane = {
  name: 'client',
  cert: 'certFile',
  key: 'keyFile',
  ca: 'trustedCaFile',
  certAuth: 'clientCertAuth',
  listen: (cfg) =>
    cfg.clientListenAddress === undefined
      ? { key: 'clientAddress', address: cfg.clientAddress }
      : { key: 'clientListenAddress', address: cfg.clientListenAddress },
  exposure: 'anyone who can reach it could read and release every lock',
};

const PEER_PLANE: Plane = {
  name: 'peer',
  cert: 'peerCertFile',
  key: 'peerKeyFile',
  ca: 'peerTrustedCaFile',
  certAuth: 'peerClientCertAuth',
  listen: (cfg) => ({ key: 'peerAddress', address: cfg.peerAddress }),
  exposure: 'anyone who can reach it could speak Raft and forward calls as a member',
};

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Every problem of both planes' settings. describe names a setting as the operator may have
 * spelled it; hostOf is the host a listen address binds.
 */
export function tlsProblems(
  cfg: TlsSettings,
  how: { describe: (key: TlsSetting) => string; hostOf: (address: string) => string },
): TlsProblem[] {
  return [CLIENT_PLANE, PEER_PLANE].flatMap((p) => planeProblems(cfg, p, how.describe, how.hostOf));
}

function planeProblems(
  cfg: TlsSettings,
  p: Plane,
  describe: (key: TlsSetting) => string,
  hostOf: (address: string) => string,
): TlsProblem[] {
  const out: TlsProblem[] = [];
  const has = (k: TlsSetting) => cfg[k] !== undefined;
  if (has(p.cert) !== has(p.key)) {
    const [given, missing] = has(p.cert) ? [p.cert, p.key] : [p.key, p.cert];
    out.push({ key: missing, message: `required with ${describe(given)}` });
  }
  if (has(p.ca) && !has(p.cert)) {
    out.push({
      key: p.ca,
      message: `needs ${describe(p.cert)} and ${describe(p.key)}: a ${p.name} listener without its own certificate cannot speak TLS`,
    });
  }
  if (cfg[p.certAuth] && !has(p.ca)) {
    out.push({
      key: p.certAuth,
      message: `needs ${describe(p.ca)}, the CA that ${p.name} certificates are verified against`,
    });
  }
  // Members verify each other both ways: the peer CA is what forwarded calls are accepted by.
  if (p === PEER_PLANE && has(p.cert) && !has(p.ca)) {
    out.push({
      key: p.ca,
      message: `required with ${describe(p.cert)}: members verify each other's certificates against it`,
    });
  }
  const listen = p.listen(cfg);
  if (!has(p.cert) && !cfg.insecure && !isLoopback(hostOf(listen.address))) {
    out.push({
      key: listen.key,
      message:
        `refusing to listen on ${listen.address} without TLS: ${p.exposure}. ` +
        `Give ${describe(p.cert)}, ${describe(p.key)} and ${describe(p.ca)}, ` +
        `or ${describe('insecure')} to run it in plaintext anyway`,
    });
  }
  return out;
}
