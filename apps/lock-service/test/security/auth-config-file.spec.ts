// The auth config kept in force: loaded at open, re-read when the file changes (or on reload()),
// a bad version never replacing the last good one.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeTempDir } from '../../../../libs/testing/src/processes.js';
import { waitFor } from '../../../../libs/testing/src/wait.js';
import { createLogger } from '../../src/server.js';
import { AuthConfigError } from '../../src/security/auth-config.js';
import { AuthConfigFile } from '../../src/security/auth-config-file.js';
import type { AccessPolicy } from '../../src/security/policy.js';

const config = (...users: string[]) =>
  `users:\n${users.map((u) => `  - { name: ${u}, roles: [] }\n`).join('')}`;

describe('AuthConfigFile', () => {
  let dir: string;
  let file: string;
  let lines: string[];
  let loaded: AccessPolicy[];
  let opened: AuthConfigFile | undefined;
  const open = () => {
    const logger = createLogger(
      { logFormat: 'json', logLevel: 'info' },
      { write: (l) => lines.push(l) },
    );
    opened = AuthConfigFile.open(file, { logger, onLoad: (p) => loaded.push(p), pollMs: 20 });
    return opened;
  };
  const logged = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

  beforeEach(() => {
    dir = tempDir('auth-config-file-');
    file = join(dir, 'auth.yaml');
    lines = [];
    loaded = [];
  });
  afterEach(() => {
    opened?.close();
    opened = undefined;
    removeTempDir(dir);
  });

  test('a bad file refuses to open, naming the problem', () => {
    writeFileSync(file, 'users: [{ name: a }]\n');
    expect(open).toThrow(AuthConfigError);
    expect(open).toThrow('users[0].roles: required');
    expect(loaded).toEqual([]);
  });

  test('a good change is in force without a restart; a bad one keeps the last good one and says so', async () => {
    writeFileSync(file, config('alice'));
    open();
    expect(loaded.map((p) => p.isUser('alice'))).toEqual([true]);

    writeFileSync(file, config('alice', 'bob'));
    await waitFor('the change to be read', () => loaded.length === 2);
    expect(loaded[1]!.isUser('bob')).toBe(true);

    writeFileSync(file, config('alice', 'bob') + 'roles: { x: [{ action: fly }] }\n');
    // Written in place, the file may be seen empty for a moment: that too fails, and is said.
    const failure = await waitFor('the bad change to be reported', () =>
      logged().find(
        (l) =>
          l.msg === 'auth config reload failed: the last good auth config stays in force' &&
          JSON.stringify(l.problems).includes('roles.x'),
      ),
    );
    expect(loaded).toHaveLength(2);
    expect(failure).toMatchObject({
      level: 50,
      file,
      why: 'the file changed',
      problems: ['roles.x[0].action: must be one of lock, elect, read, admin'],
    });

    // Replaced by a rename, as editors and ConfigMap updates do.
    writeFileSync(`${file}.new`, config('carol'));
    renameSync(`${file}.new`, file);
    await waitFor('the replaced file to be read', () => loaded.length === 3);
    expect(loaded[2]!.isUser('carol')).toBe(true);
    expect(logged().at(-1)).toMatchObject({ msg: 'auth config reloaded', users: 1 });
  });

  test('a deleted file keeps the last good config; reload() reads at once', () => {
    writeFileSync(file, config('alice'));
    const f = open();
    rmSync(file);
    expect(f.reload('SIGHUP')).toBe(false);
    expect(logged().at(-1)).toMatchObject({ why: 'SIGHUP', problems: ['cannot read it: ENOENT'] });
    writeFileSync(file, config('dave'));
    expect(f.reload('SIGHUP')).toBe(true);
    expect(loaded.at(-1)!.isUser('dave')).toBe(true);
    f.close();
    expect(f.reload('SIGHUP')).toBe(false);
  });
});
