// The README's auth config example ("Securing a cluster") is a good config, and says what it
// is said to: the tokens shown hash to the file's hashes, and the calls shown are decided so.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Code, DomainError } from '../../src/domain/errors.js';
import { AccessControl, type CallerFacts } from '../../src/security/access-control.js';
import { parseAuthConfig } from '../../src/security/auth-config.js';
import { AccessPolicy } from '../../src/security/policy.js';

const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('### Authentication and authorization'));
const yaml = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;

describe('the README’s auth config example', () => {
  const config = parseAuthConfig(yaml);
  const access = new AccessControl({ insecure: false });
  access.setPolicy(new AccessPolicy(config));
  const as = (token?: string): CallerFacts => ({
    peer: '127.0.0.1:1',
    authorization: token ? [`Bearer ${token}`] : [],
  });

  test('its tokens hash as `printf %s "$TOKEN" | sha256sum` prints', () => {
    const hashOf = (t: string) => createHash('sha256').update(t).digest('hex');
    expect(config.users.find((u) => u.name === 'ci-bot')!.tokenSha256).toBe(hashOf('test'));
    expect(config.users.find((u) => u.name === 'dashboard')!.tokenSha256).toBe(
      hashOf('dashboard-secret'),
    );
    expect(section).toContain(`$ printf %s test | sha256sum\n${hashOf('test')}  -`);
  });

  test('the walkthrough’s calls are decided as it shows', () => {
    const acquire = (name: string, token?: string) =>
      access.admit('LockService/Acquire', { name }, {}, as(token));
    expect(acquire('billing/nightly', 'test').ctx.principal).toBe('ci-bot');
    expect(() => acquire('payroll/run', 'test')).toThrow(
      'permission denied: lock on "payroll/run": no role of "ci-bot" grants it',
    );
    expect(section).toContain(
      'quorumlock: permission denied: lock on "payroll/run": no role of "ci-bot" grants it',
    );
    const describe = (token?: string) =>
      access.admit('LockService/Describe', { name: 'billing/nightly' }, {}, as(token));
    expect(() => describe()).toThrow(
      new DomainError(
        Code.UNAUTHENTICATED,
        'no credentials: send "authorization: Bearer <token>" or a client certificate',
      ),
    );
    expect(section).toContain(
      'quorumlock: no credentials: send "authorization: Bearer <token>" or a client certificate',
    );
    expect(describe('dashboard-secret').ctx.principal).toBe('dashboard');
    expect(access.isAdmin('ci-bot')).toBe(true);
    expect(access.isAdmin('dashboard')).toBe(false);
  });
});
