// The auth config file: what a good one gives, and every way a bad one is refused, each problem
// named by where it is in the file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthConfigError,
  loadAuthConfig,
  parseAuthConfig,
} from '../../src/security/auth-config.js';

const HASH = '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8'; // "password"

function problems(yaml: string): readonly string[] {
  try {
    parseAuthConfig(yaml);
  } catch (e) {
    expect(e).toBeInstanceOf(AuthConfigError);
    return (e as AuthConfigError).problems;
  }
  throw new Error('expected an AuthConfigError');
}

const GOOD = `
users:
  - name: billing
    roles: [billing-locks]
  - name: ci-bot
    token_sha256: ${HASH.toUpperCase()}
    roles: [admin, billing-locks]
roles:
  billing-locks:
    - { action: lock, prefix: billing/ }
    - { action: read, prefix: "" }
  admin:
    - { action: admin }
`;

describe('a good auth config', () => {
  test('gives its users (token hashes in lower case) and roles', () => {
    const c = parseAuthConfig(GOOD);
    expect(c.users).toEqual([
      { name: 'billing', roles: ['billing-locks'] },
      { name: 'ci-bot', tokenSha256: HASH, roles: ['admin', 'billing-locks'] },
    ]);
    expect(Object.fromEntries(c.roles)).toEqual({
      'billing-locks': [
        { action: 'lock', prefix: 'billing/' },
        { action: 'read', prefix: '' },
      ],
      admin: [{ action: 'admin', prefix: '' }],
    });
  });

  test('may leave out roles when its users have none', () => {
    expect(parseAuthConfig('users: [{ name: watcher, roles: [] }]').roles.size).toBe(0);
  });
});

describe('a bad auth config is refused, naming where', () => {
  test.each([
    ['YAML that does not parse', 'users: [\n', /^line 2, column 1: /],
    ['a key twice', 'users: []\nusers: []\n', /^line 2, column 1: Map keys must be unique/],
    ['an empty file', '# nothing yet\n', /^\(the file\): is empty/],
    ['a list at the top', '- name: a\n', /^\(the file\): must be a mapping$/],
    ['an unknown top-level key', 'users: []\ngroups: {}\n', /^\(the file\): unknown key "groups"$/],
    ['no users', 'roles: {}\n', /^users: required$/],
    ['users not a list', 'users: { name: a }\n', /^users: must be a list of users$/],
    ['a user without a name', 'users: [{ roles: [] }]\n', /^users\[0\]\.name: required$/],
    [
      'an empty name',
      'users: [{ name: "", roles: [] }]\n',
      /^users\[0\]\.name: must not be empty$/,
    ],
    [
      'a name that is not a string',
      'users: [{ name: [a], roles: [] }]\n',
      /^users\[0\]\.name: must be a string/,
    ],
    [
      'a name of control characters',
      'users: [{ name: "a\\tb", roles: [] }]\n',
      /^users\[0\]\.name: must not hold control characters$/,
    ],
    [
      'a name over 256 bytes',
      `users: [{ name: ${'x'.repeat(257)}, roles: [] }]\n`,
      /^users\[0\]\.name: must be at most 256 bytes$/,
    ],
    ['a user without roles', 'users: [{ name: a }]\n', /^users\[0\]\.roles: required$/],
    [
      'roles not a list',
      'users: [{ name: a, roles: ops }]\n',
      /^users\[0\]\.roles: must be a list$/,
    ],
    [
      'a role that is not a string',
      'users: [{ name: a, roles: [1] }]\n',
      /^users\[0\]\.roles\[0\]: must be a role name$/,
    ],
    [
      'an undefined role',
      'users: [{ name: a, roles: [ops] }]\n',
      /^users\[0\]\.roles\[0\]: no role "ops" under roles \(none\)$/,
    ],
    [
      'a token hash of the wrong length',
      'users: [{ name: a, token_sha256: abc, roles: [] }]\n',
      /^users\[0\]\.token_sha256: must be 64 hex digits, the SHA-256 of the token: printf %s "\$TOKEN" \| sha256sum$/,
    ],
    [
      'a token hash that is not hex',
      `users: [{ name: a, token_sha256: ${'g'.repeat(64)}, roles: [] }]\n`,
      /^users\[0\]\.token_sha256: must be 64 hex digits/,
    ],
    [
      'a plain token',
      'users: [{ name: a, token: s3cret, roles: [] }]\n',
      /^users\[0\]: unknown key "token" \(the file holds token_sha256, the SHA-256 of a token, never the token\)$/,
    ],
    [
      'roles not a mapping',
      'users: []\nroles: [a]\n',
      /^roles: must be a mapping of role names to lists of grants$/,
    ],
    [
      'grants not a list',
      'users: []\nroles: { ops: { action: admin } }\n',
      /^roles\.ops: must be a list of grants$/,
    ],
    [
      'an unknown action',
      'users: []\nroles: { ops: [{ action: write, prefix: "" }] }\n',
      /^roles\.ops\[0\]\.action: must be one of lock, elect, read, admin$/,
    ],
    [
      'a grant without an action',
      'users: []\nroles: { ops: [{ prefix: "" }] }\n',
      /^roles\.ops\[0\]\.action: required: one of lock, elect, read, admin$/,
    ],
    [
      'an empty role name',
      'users: []\nroles: { "": [{ action: admin }] }\n',
      /^roles: a role name must not be empty or hold control characters$/,
    ],
    [
      'lock without a prefix',
      'users: []\nroles: { ops: [{ action: lock }] }\n',
      /^roles\.ops\[0\]\.prefix: required for lock \(\"\" grants every name\)$/,
    ],
    [
      'admin with a prefix',
      'users: []\nroles: { ops: [{ action: admin, prefix: a/ }] }\n',
      /^roles\.ops\[0\]\.prefix: admin applies to the whole cluster: remove it$/,
    ],
    [
      'a prefix that is not a string',
      'users: []\nroles: { ops: [{ action: read, prefix: [a] }] }\n',
      /^roles\.ops\[0\]\.prefix: must be a string/,
    ],
    [
      'an unknown key in a grant',
      'users: []\nroles: { ops: [{ action: read, prefix: "", name: x }] }\n',
      /^roles\.ops\[0\]: unknown key "name"$/,
    ],
    [
      'a role name that is not plain',
      'users: []\nroles: { "ops team": [{ action: admin, prefix: x }] }\n',
      /^roles\["ops team"\]\[0\]\.prefix: /,
    ],
  ])('%s', (_what, yaml, expected) => {
    const found = problems(yaml);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(expected);
  });

  test('a user named twice, and one token for two users', () => {
    expect(
      problems(
        `users:\n  - { name: a, token_sha256: ${HASH}, roles: [] }\n  - { name: a, roles: [] }\n  - { name: b, token_sha256: ${HASH.toUpperCase()}, roles: [] }\n`,
      ),
    ).toEqual([
      'users[1].name: "a" is also users[0]',
      'users[2].token_sha256: the same token as users[0]',
    ]);
  });

  test('every problem at once, and never a value from the file', () => {
    const secret = 'f'.repeat(63);
    const found = problems(
      `users:\n  - { name: a, token_sha256: ${secret}, roles: [nope] }\nroles:\n  ops: [{ action: fly }]\n`,
    );
    expect(found).toEqual([
      expect.stringMatching(/^users\[0\]\.token_sha256: /),
      expect.stringMatching(/^roles\.ops\[0\]\.action: /),
    ]);
    expect(found.join('\n')).not.toContain(secret);
  });

  test('a file that cannot be read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'auth-config-'));
    try {
      expect(() => loadAuthConfig(join(dir, 'missing.yaml'))).toThrow('cannot read it: ENOENT');
      writeFileSync(join(dir, 'auth.yaml'), GOOD);
      expect(loadAuthConfig(join(dir, 'auth.yaml')).users).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
