// One plane's certificate, key and CA files, re-read when they change or on demand (SIGHUP), and
// handed to whoever serves or dials with them: grpc-js through its CertificateProvider interface,
// the HTTPS server through onChange. A new set that does not check out is refused and logged,
// and the last good one stays in use: a half-written or mismatched rotation must not take a
// running node off the network.
import { readFileSync, statSync } from 'node:fs';
import type { experimental } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ConfigError, type ConfigKey, describe as describeSetting } from '../config/config.js';
import {
  checkMaterial,
  describeCertificate,
  PemError,
  type PemMaterial,
  type PemRole,
} from './pem.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** How often the files are checked for a change (stat only, unless one changed). */
export const CERTIFICATE_POLL_MS = 1000;

export interface PlaneFiles {
  /** 'client' or 'peer', for logs. */
  readonly plane: string;
  /** Each file with the setting that named it, for errors. */
  readonly cert: { readonly setting: ConfigKey; readonly path: string };
  readonly key: { readonly setting: ConfigKey; readonly path: string };
  readonly ca?: { readonly setting: ConfigKey; readonly path: string };
}

export class PlaneCertificates implements experimental.CertificateProvider {
  private material: PemMaterial;
  /** What stat said of the files when they were last read: a change means a new read. */
  private seen: string;
  private timer: NodeJS.Timeout | undefined;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly changeListeners = new Set<(m: PemMaterial) => void>();

  /** Reads and checks the files; a ConfigError names the setting of a file that is unusable. */
  constructor(
    readonly files: PlaneFiles,
    private readonly logger: Logger,
  ) {
    this.seen = this.stat();
    try {
      this.material = this.read();
    } catch (e) {
      throw new ConfigError([this.problem(e)]);
    }
    this.logLoaded('certificates loaded');
  }

  get current(): PemMaterial {
    return this.material;
  }

  /** Starts checking the files every pollMs. */
  watch(pollMs = CERTIFICATE_POLL_MS): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      const now = this.stat();
      if (now !== this.seen) {
        this.seen = now;
        this.reload('files changed');
      }
    }, pollMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the files again; returns whether a new set is in use. */
  reload(why: string): boolean {
    let next: PemMaterial;
    try {
      next = this.read();
    } catch (e) {
      this.logger.error(
        { plane: this.files.plane, why, problem: this.problem(e) },
        'new certificate files refused; the last good ones stay in use',
      );
      return false;
    }
    const old = this.material;
    const sameCa = next.ca === undefined ? old.ca === undefined : old.ca?.equals(next.ca) === true;
    // A file touched or rewritten with the same content is no news for the listeners.
    if (next.cert.equals(old.cert) && next.key.equals(old.key) && sameCa) return false;
    this.material = next;
    this.logLoaded('certificates reloaded', why);
    for (const l of this.identityListeners) l(this.identityUpdate());
    for (const l of this.caListeners) l(this.caUpdate());
    for (const l of this.changeListeners) l(next);
    return true;
  }

  /** Called with every new set after the first. */
  onChange(listener: (m: PemMaterial) => void): void {
    this.changeListeners.add(listener);
  }

  // grpc-js's CertificateProvider. A new listener hears the current set on the next tick: grpc-js
  // registers its own watcher only after adding the listener, and would miss a synchronous call.
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    process.nextTick(() => this.caListeners.has(listener) && listener(this.caUpdate()));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    process.nextTick(() => this.identityListeners.has(listener) && listener(this.identityUpdate()));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  private caUpdate(): experimental.CaCertificateUpdate | null {
    return this.material.ca === undefined ? null : { caCertificate: this.material.ca };
  }

  private identityUpdate(): experimental.IdentityCertificateUpdate {
    return { certificate: this.material.cert, privateKey: this.material.key };
  }

  private read(): PemMaterial {
    const load = (role: PemRole, path: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (e) {
        throw new PemError(role, `cannot read ${path}: ${(e as Error).message}`);
      }
    };
    const { cert, key, ca } = this.files;
    return checkMaterial(
      load('cert', cert.path),
      load('key', key.path),
      ca === undefined ? undefined : load('ca', ca.path),
    );
  }

  /** A read's failure as `invalid --flag (VARIABLE): <path> <what is wrong>`. */
  private problem(e: unknown): string {
    if (!(e instanceof PemError)) throw e;
    const file = this.files[e.role] ?? this.files.cert;
    const message = e.message.startsWith('cannot read') ? e.message : `${file.path} ${e.message}`;
    return `invalid ${describeSetting(file.setting)}: ${message}`;
  }

  private stat(): string {
    const { cert, key, ca } = this.files;
    return [cert, key, ...(ca === undefined ? [] : [ca])]
      .map(({ path }) => {
        try {
          // Follows symbolic links: Kubernetes swaps a link to rotate a mounted secret.
          const s = statSync(path);
          return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
  }

  private logLoaded(msg: string, why?: string): void {
    const leaf = this.material.leaf;
    const expired = Date.parse(leaf.validTo) <= Date.now();
    this.logger[expired ? 'warn' : 'info'](
      { plane: this.files.plane, ...(why ? { why } : {}), ...describeCertificate(leaf), expired },
      msg,
    );
  }
}
