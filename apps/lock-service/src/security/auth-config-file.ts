// The --auth-config file, kept in force: read at start (a bad file stops the start), then read
// again whenever it changes or the process gets SIGHUP. A bad version never replaces a good one:
// the last good config stays in force and the log says so.
import { stat, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { AuthConfigError, loadAuthConfig } from './auth-config.js';
import { AccessPolicy } from './policy.js';

export interface AuthConfigFileOptions {
  readonly logger: Logger;
  /** Called with each good config: the first at open(), then each good reload. */
  readonly onLoad: (policy: AccessPolicy) => void;
  /**
   * How often the file's status is looked at (default 500 ms). Polling, not inotify: it sees a
   * file replaced by a rename, as editors and Kubernetes ConfigMap updates do, as well as one
   * written in place.
   */
  readonly pollMs?: number;
}

/** What tells one version of the file from the next: inode, size and modification time. */
function versionOf(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

export class AuthConfigFile {
  private readonly timer: NodeJS.Timeout;
  /** The version last read: taken before reading, so that a change after it is seen. */
  private version: string;
  private polling = false;
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly opts: AuthConfigFileOptions,
  ) {
    this.version = versionOf(file);
    this.timer = setInterval(() => this.poll(), opts.pollMs ?? 500).unref();
  }

  /** Loads the file, or throws AuthConfigError; then watches it. */
  static open(file: string, opts: AuthConfigFileOptions): AuthConfigFile {
    const f = new AuthConfigFile(file, opts);
    try {
      const policy = new AccessPolicy(loadAuthConfig(file));
      opts.onLoad(policy);
      opts.logger.info({ file, users: policy.userCount }, 'auth config loaded');
      return f;
    } catch (e) {
      f.close();
      throw e;
    }
  }

  private poll(): void {
    if (this.polling) return;
    this.polling = true;
    stat(this.file, (err, s) => {
      this.polling = false;
      const version = err ? 'missing' : `${s.ino}:${s.size}:${s.mtimeMs}`;
      if (version !== this.version) this.reload('the file changed');
    });
  }

  /** Reads the file again; true if it was good and is now in force. */
  reload(why: string): boolean {
    if (this.closed) return false;
    const { logger, onLoad } = this.opts;
    this.version = versionOf(this.file);
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
    clearInterval(this.timer);
  }
}
