// The auth config (--auth-config FILE): who the identities are and what their roles grant, read
// from YAML and checked as a whole, so that every mistake is reported with where it is in the
// file (e.g. `roles.ops[0].action`). Nothing here echoes a value from the file: a mistyped
// token hash must not end up in a log.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';

/** What a role may grant. admin is the whole cluster's (operator calls, any lease). */
export const ACTIONS = ['lock', 'elect', 'read', 'admin'] as const;
export type Action = (typeof ACTIONS)[number];

export interface Grant {
  readonly action: Action;
  /** Names starting with it ('' is every name); '' for admin, which names nothing. */
  readonly prefix: string;
}

export interface User {
  /** The identity: a client certificate's name, and the principal its leases belong to. */
  readonly name: string;
  /** SHA-256 (lower-case hex) of the user's bearer token, if it has one. */
  readonly tokenSha256?: string;
  readonly roles: readonly string[];
}

export interface AuthConfig {
  readonly users: readonly User[];
  readonly roles: ReadonlyMap<string, readonly Grant[]>;
}

/** Everything wrong with a file, one `path: problem` per line. */
export class AuthConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'AuthConfigError';
  }
}

/** Names and prefixes as the API takes them: at most 256 bytes, no control characters. */
const MAX_BYTES = 256;
const CONTROL = /[\u0000-\u001f\u007f]/;
const HEX64 = /^[0-9a-fA-F]{64}$/;

const text = (what: string, allowEmpty: boolean) =>
  z.string({ error: `must be a string (${what})` }).check((ctx) => {
    const problem =
      !allowEmpty && ctx.value === ''
        ? 'must not be empty'
        : Buffer.byteLength(ctx.value) > MAX_BYTES
          ? `must be at most ${MAX_BYTES} bytes`
          : CONTROL.test(ctx.value)
            ? 'must not hold control characters'
            : undefined;
    if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
  });

const grantSchema = z.strictObject({
  action: z.enum(ACTIONS, {
    error: (iss) =>
      `${iss.input === undefined ? 'required: ' : 'must be '}one of ${ACTIONS.join(', ')}`,
  }),
  prefix: text('the start of the names it grants; "" for every name', true).optional(),
});

const userSchema = z.strictObject({
  name: text('a certificate name or any name for a token user', false),
  token_sha256: z
    .string({ error: 'must be a string' })
    .regex(HEX64, {
      error: 'must be 64 hex digits, the SHA-256 of the token: printf %s "$TOKEN" | sha256sum',
    })
    .optional(),
  roles: z.array(z.string({ error: 'must be a role name' }), { error: 'must be a list' }),
});

const fileSchema = z.strictObject({
  users: z.array(userSchema, { error: 'must be a list of users' }),
  roles: z
    .record(z.string(), z.array(grantSchema, { error: 'must be a list of grants' }), {
      error: 'must be a mapping of role names to lists of grants',
    })
    .default({}),
});

/** A zod path as it reads in the file: users[0].roles[1], roles.ops[0].action. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(String(p))) out += `${out ? '.' : ''}${String(p)}`;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out || '(the file)';
}

const SHAPES: Record<string, string> = {
  string: 'a string',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => JSON.stringify(k)).join(', ');
    const hint = issue.keys.includes('token')
      ? ' (the file holds token_sha256, the SHA-256 of a token, never the token)'
      : '';
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${keys}${hint}`;
  }
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'required';
    if (issue.message.startsWith('Invalid input'))
      return `must be ${SHAPES[issue.expected] ?? issue.expected}`;
  }
  return issue.message;
}

/** Reads YAML into plain data; syntax errors say where (line and column), not what is there. */
function readYaml(source: string): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(source, { prettyErrors: false, lineCounter: lines, uniqueKeys: true });
  if (doc.errors.length > 0)
    throw new AuthConfigError(
      doc.errors.map((e) => {
        const at = lines.linePos(e.pos[0]);
        return `line ${at.line}, column ${at.col}: ${e.message}`;
      }),
    );
  return doc.toJS({ maxAliasCount: 100 }) as unknown;
}

/** Parses and checks a file's text; throws AuthConfigError naming every problem. */
export function parseAuthConfig(source: string): AuthConfig {
  const data = readYaml(source);
  if (data === null || data === undefined)
    throw new AuthConfigError(['(the file): is empty; it must list users (and their roles)']);
  const parsed = fileSchema.safeParse(data, { reportInput: true });
  if (!parsed.success)
    throw new AuthConfigError(
      parsed.error.issues.map((i) => `${formatPath(i.path)}: ${describeIssue(i)}`),
    );
  const problems: string[] = [];
  const problem = (path: readonly PropertyKey[], message: string) =>
    problems.push(`${formatPath(path)}: ${message}`);

  const roles = new Map<string, Grant[]>();
  for (const [role, grants] of Object.entries(parsed.data.roles)) {
    if (role === '' || CONTROL.test(role))
      problem(['roles'], 'a role name must not be empty or hold control characters');
    roles.set(
      role,
      grants.map((g, i) => {
        if (g.action === 'admin' && g.prefix !== undefined)
          problem(['roles', role, i, 'prefix'], 'admin applies to the whole cluster: remove it');
        if (g.action !== 'admin' && g.prefix === undefined)
          problem(['roles', role, i, 'prefix'], `required for ${g.action} ("" grants every name)`);
        return { action: g.action, prefix: g.prefix ?? '' };
      }),
    );
  }

  const byName = new Map<string, number>();
  const byToken = new Map<string, number>();
  const users = parsed.data.users.map((u, i): User => {
    const same = byName.get(u.name);
    if (same !== undefined)
      problem(['users', i, 'name'], `${JSON.stringify(u.name)} is also users[${same}]`);
    byName.set(u.name, i);
    const token = u.token_sha256?.toLowerCase();
    if (token !== undefined) {
      const twice = byToken.get(token);
      if (twice !== undefined)
        problem(['users', i, 'token_sha256'], `the same token as users[${twice}]`);
      byToken.set(token, i);
    }
    u.roles.forEach((r, k) => {
      if (!roles.has(r))
        problem(
          ['users', i, 'roles', k],
          `no role ${JSON.stringify(r)} under roles (${[...roles.keys()].join(', ') || 'none'})`,
        );
    });
    return { name: u.name, ...(token === undefined ? {} : { tokenSha256: token }), roles: u.roles };
  });
  if (problems.length > 0) throw new AuthConfigError(problems);
  return { users, roles };
}

/** Reads and checks the file at `file`. */
export function loadAuthConfig(file: string): AuthConfig {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new AuthConfigError([`cannot read it: ${err.code ?? err.message}`]);
  }
  return parseAuthConfig(source);
}
