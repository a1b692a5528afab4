// Admission of every RPC: allowed, refused, and unauthenticated, with and without an auth
// config; forwarded calls; what a refusal reports.
import { createHash } from 'node:crypto';
import { Code, DomainError } from '../../src/domain/errors.js';
import { ClusterServiceDefinition } from '../../src/gen/quorumlock/v1/cluster.js';
import { ElectionServiceDefinition } from '../../src/gen/quorumlock/v1/election.js';
import { LockServiceDefinition } from '../../src/gen/quorumlock/v1/lock.js';
import {
  AccessControl,
  type CallerFacts,
  type Denial,
  isLoopbackPeer,
} from '../../src/security/access-control.js';
import { parseAuthConfig } from '../../src/security/auth-config.js';
import { AccessPolicy } from '../../src/security/policy.js';
import { RPC_ACCESS, type RpcName } from '../../src/security/rpc-access.js';

const sha = (t: string) => createHash('sha256').update(t).digest('hex');

const CONFIG = `
users:
  - { name: locker, token_sha256: ${sha('t-locker')}, roles: [worker] }
  - { name: reader, token_sha256: ${sha('t-reader')}, roles: [reader] }
  - { name: root, token_sha256: ${sha('t-root')}, roles: [admin] }
  - { name: svc.example, roles: [reader] }
roles:
  worker:
    - { action: lock, prefix: billing/ }
    - { action: elect, prefix: elections/ }
    - { action: read, prefix: billing/ }
  reader:
    - { action: read, prefix: "" }
  admin:
    - { action: admin }
`;

const policy = () => new AccessPolicy(parseAuthConfig(CONFIG));
const token = (t: string): CallerFacts => ({
  peer: '10.1.2.3:5000',
  authorization: [`Bearer ${t}`],
});
const nobody: CallerFacts = { peer: '10.1.2.3:5000', authorization: [] };

function setup(o: { insecure?: boolean; auth?: boolean } = {}) {
  const denials: Denial[] = [];
  const access = new AccessControl({
    insecure: o.insecure ?? false,
    onDenied: (d) => denials.push(d),
  });
  if (o.auth ?? true) access.setPolicy(policy());
  return { access, denials };
}

function codeOf(f: () => unknown): number | 'ok' {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (!(e instanceof DomainError)) throw e;
    return e.code;
  }
}

/** Each RPC with a request, who may make it, and who is refused (undefined: nobody). */
const MATRIX: [RpcName, object, string, string | undefined][] = [
  ['LockService/Acquire', { name: 'billing/x' }, 't-locker', 't-reader'],
  ['LockService/Renew', { lease_id: 'abc' }, 't-reader', undefined],
  ['LockService/KeepAlive', {}, 't-reader', undefined],
  ['LockService/Release', { lease_id: 'abc', name: 'billing/x' }, 't-locker', 't-reader'],
  ['LockService/Release', { lease_id: 'abc', name: '' }, 't-reader', undefined],
  ['LockService/Describe', { name: 'billing/x' }, 't-reader', 't-root'],
  ['LockService/Watch', { prefix: 'billing/' }, 't-locker', 't-root'],
  ['ElectionService/Campaign', { election: 'elections/e' }, 't-locker', 't-reader'],
  ['ElectionService/Proclaim', { election: 'elections/e' }, 't-locker', 't-reader'],
  ['ElectionService/Resign', { election: 'elections/e' }, 't-locker', 't-reader'],
  ['ElectionService/Leader', { election: 'elections/e' }, 't-reader', 't-locker'],
  ['ElectionService/Observe', { election: 'elections/e' }, 't-reader', 't-locker'],
  ['ClusterService/Status', {}, 't-reader', undefined],
  ['ClusterService/ListMembers', {}, 't-reader', undefined],
  ['ClusterService/TransferLeadership', { id: '' }, 't-root', 't-locker'],
  ['ClusterService/AddMember', { id: 'n4' }, 't-root', 't-reader'],
  ['ClusterService/PromoteMember', { id: 'n4' }, 't-root', 't-locker'],
  ['ClusterService/RemoveMember', { id: 'n4' }, 't-root', 't-reader'],
  ['ClusterService/Snapshot', {}, 't-root', 't-locker'],
];

describe('with an auth config', () => {
  test('every RPC of the API has an action (health checks have none: they stay open)', () => {
    const rpcs = [LockServiceDefinition, ElectionServiceDefinition, ClusterServiceDefinition]
      .flatMap((s) =>
        Object.values(s.methods as Record<string, { name: string }>).map(
          (m) => `${s.name}/${m.name}`,
        ),
      )
      .sort();
    expect(Object.keys(RPC_ACCESS).sort()).toEqual(rpcs);
    expect(new Set(MATRIX.map(([rpc]) => rpc)).size).toBe(rpcs.length);
  });

  test.each(MATRIX)('%s %j: allowed, refused, unauthenticated', (rpc, req, allowed, refused) => {
    const { access, denials } = setup();
    const a = access.admit(rpc, req, {}, token(allowed));
    expect(a.ctx.principal).toBe(policy().userOfToken(allowed));
    expect(denials).toEqual([]);
    if (refused !== undefined) {
      expect(codeOf(() => access.admit(rpc, req, {}, token(refused)))).toBe(Code.PERMISSION_DENIED);
      expect(denials).toMatchObject([
        { rpc, action: RPC_ACCESS[rpc].action, code: 'PERMISSION_DENIED' },
      ]);
    }
    for (const who of [nobody, token('t-unknown'), { ...nobody, authorization: ['Basic x'] }])
      expect(codeOf(() => access.admit(rpc, req, {}, who))).toBe(Code.UNAUTHENTICATED);
  });

  test('a refusal names the action and the name, and what the caller lacks', () => {
    const { access } = setup();
    expect(() =>
      access.admit('LockService/Acquire', { name: 'payroll/run' }, {}, token('t-locker')),
    ).toThrow('permission denied: lock on "payroll/run": no role of "locker" grants it');
    expect(() =>
      access.admit('LockService/Watch', { prefix: 'payroll/' }, {}, token('t-locker')),
    ).toThrow('permission denied: read on prefix "payroll/"');
    expect(() =>
      access.admit('ClusterService/TransferLeadership', {}, {}, token('t-locker')),
    ).toThrow('permission denied: admin on the cluster');
  });

  test('a verified certificate names its user; one naming nobody known is unauthenticated', () => {
    const { access } = setup();
    const cert = (CN: string): CallerFacts => ({
      ...nobody,
      certificate: { subject: { CN } },
    });
    const a = access.admit('LockService/Describe', { name: 'x' }, {}, cert('svc.example'));
    expect(a.ctx.principal).toBe('svc.example');
    expect(() => access.admit('LockService/Describe', { name: 'x' }, {}, cert('mallory'))).toThrow(
      'the client certificate names "mallory", who is no user',
    );
    // A token, when sent, decides: the certificate is not looked at.
    const both = { ...cert('svc.example'), authorization: ['Bearer t-unknown'] };
    expect(codeOf(() => access.admit('ClusterService/Status', {}, {}, both))).toBe(
      Code.UNAUTHENTICATED,
    );
  });

  test('a refusal reports no token, no hash', () => {
    const { access, denials } = setup();
    codeOf(() => access.admit('ClusterService/Status', {}, {}, token('t-unknown')));
    codeOf(() => access.admit('LockService/Acquire', { name: 'x' }, {}, token('t-reader')));
    const said = JSON.stringify(denials);
    for (const secret of ['t-unknown', sha('t-unknown'), 't-reader', sha('t-reader')])
      expect(said).not.toContain(secret);
    expect(denials).toEqual([
      expect.objectContaining({ code: 'UNAUTHENTICATED', reason: 'unknown bearer token' }),
      expect.objectContaining({ code: 'PERMISSION_DENIED', principal: 'reader', on: '"x"' }),
    ]);
  });

  test('a forwarded call is not judged again: it keeps the principal its member named', () => {
    const { access, denials } = setup();
    const ctx = { forwarded: true, principal: 'locker' };
    const a = access.admit('ClusterService/TransferLeadership', {}, ctx, nobody);
    expect(a.ctx.principal).toBe('locker');
    expect(denials).toEqual([]);
  });

  test('streams deliver what the caller may read, by the config in force at each item', () => {
    const { access } = setup();
    const a = access.admit('LockService/Watch', { prefix: '' }, {}, token('t-locker'));
    expect(a.readable('billing/a')).toBe(true);
    expect(a.readable('payroll/a')).toBe(false);
    access.setPolicy(
      new AccessPolicy(
        parseAuthConfig(`users: [{ name: locker, token_sha256: ${sha('t-locker')}, roles: [] }]`),
      ),
    );
    expect(a.readable('billing/a')).toBe(false);
  });

  test('a lease refused by the service counts as a denial where the client called', () => {
    const { access, denials } = setup();
    const a = access.admit('LockService/Renew', {}, {}, token('t-reader'));
    const refused = new DomainError(Code.PERMISSION_DENIED, 'permission denied: lock on lease x');
    access.failed(a, token('t-reader'), new DomainError(Code.NOT_FOUND, 'gone'));
    access.failed(a, token('t-reader'), refused);
    const forwarded = access.admit('LockService/Renew', {}, { forwarded: true }, nobody);
    access.failed(forwarded, nobody, refused);
    expect(denials).toEqual([
      expect.objectContaining({ rpc: 'LockService/Renew', action: 'lock', principal: 'reader' }),
    ]);
  });

  test('the admin bit of an identity follows the config in force', () => {
    const { access } = setup();
    expect(access.isAdmin('root')).toBe(true);
    expect(access.isAdmin('locker')).toBe(false);
  });
});

describe('without an auth config', () => {
  test('every call is admitted, as nobody, but admin calls from other hosts', () => {
    const { access, denials } = setup({ auth: false });
    for (const [rpc, req] of MATRIX) {
      const from = RPC_ACCESS[rpc].action === 'admin' ? '127.0.0.1:4000' : '10.0.0.9:1';
      const a = access.admit(rpc, req, {}, { peer: from, authorization: [] });
      expect(a.ctx.principal).toBeUndefined();
    }
    for (const rpc of ['ClusterService/TransferLeadership', 'ClusterService/AddMember'] as const)
      expect(() => access.admit(rpc, {}, {}, nobody)).toThrow(
        'permission denied: admin on the cluster: without --auth-config, admin calls are taken from loopback callers only, not 10.1.2.3',
      );
    expect(denials).toHaveLength(2);
    expect(access.isAdmin('anyone')).toBe(false);
  });

  test('--insecure takes admin calls from anywhere', () => {
    const { access } = setup({ auth: false, insecure: true });
    expect(access.admit('ClusterService/TransferLeadership', {}, {}, nobody).ctx).toEqual({});
  });

  test.each([
    ['127.0.0.1:5000', true],
    ['127.3.4.5:1', true],
    ['::1:5000', true],
    ['::ffff:127.0.0.1:5000', true],
    ['[::1]:5000', true],
    ['10.0.0.1:5000', false],
    ['::ffff:10.0.0.1:5000', false],
    ['2001:db8::1:5000', false],
    ['unknown', false],
  ])('%s is loopback: %s', (peer, loopback) => {
    expect(isLoopbackPeer(peer)).toBe(loopback);
  });
});
