// Auth configs for process tests of nodes run with --auth-config: users with bearer tokens,
// written where the nodes read them.
import { createHash } from 'node:crypto';

/** What `printf %s "$TOKEN" | sha256sum` prints, as the README tells operators to hash. */
export function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The token of user `name` in these tests: derived, so each test file's are its own. */
export const tokenOf = (name: string) => `tok-${name}-${process.pid}`;

/** YAML for users (each with the token tokenOf(name)) and roles. */
export function authYaml(
  users: Readonly<Record<string, readonly string[]>>,
  roles: Readonly<Record<string, readonly { action: string; prefix?: string }[]>>,
): string {
  const u = Object.entries(users).map(
    ([name, r]) =>
      `  - name: ${name}\n    token_sha256: ${sha256Hex(tokenOf(name))}\n    roles: [${r.join(', ')}]\n`,
  );
  const grants = Object.entries(roles).map(
    ([role, gs]) =>
      `  ${role}:\n${gs.map((g) => `    - { action: ${g.action}${g.prefix === undefined ? '' : `, prefix: ${JSON.stringify(g.prefix)}`} }\n`).join('')}`,
  );
  return `users:\n${u.join('')}roles:\n${grants.join('')}`;
}
