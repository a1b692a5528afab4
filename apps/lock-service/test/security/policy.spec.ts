// One auth config as decisions: tokens to users, grants to names.
import { createHash } from 'node:crypto';
import { parseAuthConfig } from '../../src/security/auth-config.js';
import { AccessPolicy } from '../../src/security/policy.js';

const sha = (t: string) => createHash('sha256').update(t).digest('hex');

const policy = new AccessPolicy(
  parseAuthConfig(`
users:
  - { name: billing, token_sha256: ${sha('tok-billing')}, roles: [billing] }
  - { name: ops, token_sha256: ${sha('tok-ops')}, roles: [admin, reader] }
  - { name: spiffe://acme/reports, roles: [reports] }
  - { name: idle, roles: [] }
roles:
  billing:
    - { action: lock, prefix: billing/ }
    - { action: elect, prefix: billing/ }
    - { action: read, prefix: billing/ }
  reports:
    - { action: read, prefix: reports/ }
    - { action: read, prefix: billing/invoices/ }
  reader:
    - { action: read, prefix: "" }
  admin:
    - { action: admin }
`),
);

describe('AccessPolicy', () => {
  test('a token names the user whose hash it matches, and only that one', () => {
    expect(policy.userOfToken('tok-billing')).toBe('billing');
    expect(policy.userOfToken('tok-ops')).toBe('ops');
    expect(policy.userOfToken('tok-billing ')).toBeUndefined();
    expect(policy.userOfToken('')).toBeUndefined();
  });

  test('a user is a user whether or not it has a token', () => {
    expect(policy.isUser('spiffe://acme/reports')).toBe(true);
    expect(policy.isUser('idle')).toBe(true);
    expect(policy.isUser('mallory')).toBe(false);
  });

  test.each([
    ['billing', 'lock', 'billing/invoices', true],
    ['billing', 'lock', 'billing', false],
    ['billing', 'elect', 'billing/leader', true],
    ['billing', 'read', 'reports/x', false],
    ['billing', 'admin', '', false],
    ['ops', 'admin', '', true],
    ['ops', 'read', 'anything', true],
    ['ops', 'lock', 'billing/x', false],
    ['spiffe://acme/reports', 'read', 'billing/invoices/7', true],
    ['spiffe://acme/reports', 'read', 'billing/payroll', false],
    ['idle', 'read', '', false],
    ['mallory', 'read', 'billing/x', false],
  ] as const)('%s may %s %j: %s', (user, action, name, allowed) => {
    expect(policy.allows(user, action, name)).toBe(allowed);
  });

  test('only admin grants make an admin', () => {
    expect(policy.isAdmin('ops')).toBe(true);
    expect(policy.isAdmin('billing')).toBe(false);
    expect(policy.isAdmin('mallory')).toBe(false);
  });

  test('a Watch prefix is readable wholly, partly or not at all', () => {
    expect(policy.readCoverage('billing', 'billing/')).toBe('all');
    expect(policy.readCoverage('billing', 'billing/x/')).toBe('all');
    expect(policy.readCoverage('billing', '')).toBe('some');
    expect(policy.readCoverage('billing', 'bil')).toBe('some');
    expect(policy.readCoverage('billing', 'reports/')).toBe('none');
    expect(policy.readCoverage('spiffe://acme/reports', 'billing/')).toBe('some');
    expect(policy.readCoverage('ops', '')).toBe('all');
    expect(policy.readCoverage('idle', '')).toBe('none');
  });
});
