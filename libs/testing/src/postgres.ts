// A real PostgreSQL server for tests (Debian's `postgresql` package): a fresh cluster in a
// temporary directory, on a free loopback port, stopped and removed by stop(). PostgreSQL will
// not run as root, so as root (CI) it runs as the package's `postgres` user.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { Child, removeTempDir, tempDir } from './processes.js';

/** Where Debian installs the server's programs (not on PATH), newest version first. */
function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined)
    throw new Error(`no PostgreSQL server under ${root} (Debian: apt-get install postgresql)`);
  return join(root, newest, 'bin');
}

export class Postgres {
  private constructor(
    private readonly dir: string,
    private readonly server: Child,
    /** A connection string for the superuser `test`, database `postgres`. */
    readonly url: string,
  ) {}

  static async start(): Promise<Postgres> {
    const bin = binDir();
    const dir = tempDir('quorumlock-pg-');
    const data = join(dir, 'data');
    // As root, the server's own user runs it, in a directory it owns.
    const asUser = userInfo().uid === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
    if (asUser.length > 0) {
      const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString());
      chownSync(dir, id('-u'), id('-g'));
    }
    const run = (cmd: string, args: string[]) =>
      asUser.length > 0
        ? { cmd: asUser[0]!, args: [...asUser.slice(1), cmd, ...args] }
        : { cmd, args };
    const init = run(join(bin, 'initdb'), ['-D', data, '-U', 'test', '-A', 'trust', '--no-sync']);
    execFileSync(init.cmd, init.args, { stdio: 'pipe' });
    const port = await freePort();
    const serve = run(join(bin, 'postgres'), [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
    ]);
    const server = new Child('postgres', serve.cmd, serve.args, {
      logFile: join(dir, 'postgres.log'),
    });
    const pg = new Postgres(dir, server, `postgres://test@127.0.0.1:${port}/postgres`);
    try {
      await server.waitFor('PostgreSQL to accept connections', () =>
        server.output().includes('ready to accept connections'),
      );
    } catch (e) {
      await pg.stop();
      throw e;
    }
    return pg;
  }

  async stop(): Promise<void> {
    // SIGINT: PostgreSQL's fast shutdown (through runuser, which passes it on).
    await this.server.stop('SIGINT');
    removeTempDir(this.dir);
  }
}
