// The --auth-config file, kept in force: read at start (a bad file stops the start), then read
// again whenever it changes or the process gets SIGHUP. A bad version never replaces a good one:
// the last good config stays in force and the log says so.
import { type Stats, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from 'pino';
import { AuthConfigError, loadAuthConfig } from './auth-config.js';
import { AccessPolicy } from './policy.js';

export interface AuthConfigFileOptions {
  readonly logger: Logger;
  /** Called with each good config: the first at open(), then each good reload. */
  readonly onLoad: (policy: AccessPolicy) => void;
  /**
   * How often the file's status is polled. Polling (not inotify) sees a file replaced by a
   * rename, as editors and Kubernetes ConfigMap updates do, as well as one written in place.
   */
  readonly pollMs?: number;
}

export class AuthConfigFile {
  private readonly listener = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.ino !== prev.ino || cur.size !== prev.size)
      this.reload('the file changed');
  };
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly opts: AuthConfigFileOptions,
  ) {}

  /** Loads the file, or throws AuthConfigError; then watches it. */
  static open(file: string, opts: AuthConfigFileOptions): AuthConfigFile {
    const f = new AuthConfigFile(file, opts);
    const policy = new AccessPolicy(loadAuthConfig(file));
    opts.onLoad(policy);
    opts.logger.info({ file, users: policy.userCount }, 'auth config loaded');
    watchFile(file, { interval: opts.pollMs ?? 500, persistent: false }, f.listener);
    return f;
  }

  /** Reads the file again; true if it was good and is now in force. */
  reload(why: string): boolean {
    if (this.closed) return false;
    const { logger, onLoad } = this.opts;
    try {
      const policy = new AccessPolicy(loadAuthConfig(this.file));
      onLoad(policy);
      logger.info({ file: this.file, why, users: policy.userCount }, 'auth config reloaded');
      return true;
    } catch (e) {
      const problems = e instanceof AuthConfigError ? e.problems : [String(e)];
      logger.error(
        { file: this.file, why, problems },
        'auth config reload failed: the last good auth config stays in force',
      );
      return false;
    }
  }

  close(): void {
    this.closed = true;
    unwatchFile(this.file, this.listener);
  }
}
