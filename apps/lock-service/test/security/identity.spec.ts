// Where an identity is read from: a bearer token, or a certificate's CN or SANs.
import { bearerToken, certificateName, subjectAltNames } from '../../src/security/identity.js';

describe('a certificate names its holder', () => {
  test('by its Common Name first', () => {
    expect(certificateName({ subject: { CN: 'billing' }, subjectaltname: 'DNS:b.example' })).toBe(
      'billing',
    );
    expect(certificateName({ subject: { CN: ['first', 'second'] } })).toBe('first');
  });

  test('else by its first URI SAN, else its first DNS SAN', () => {
    expect(
      certificateName({
        subject: { O: 'acme' } as never,
        subjectaltname: 'DNS:a.example, URI:spiffe://acme/billing, URI:spiffe://acme/other',
      }),
    ).toBe('spiffe://acme/billing');
    expect(
      certificateName({ subjectaltname: 'IP Address:10.0.0.1, DNS:a.example, DNS:b.example' }),
    ).toBe('a.example');
  });

  test('or by nothing', () => {
    expect(certificateName({ subject: {}, subjectaltname: 'IP Address:10.0.0.1' })).toBeUndefined();
    expect(certificateName({})).toBeUndefined();
  });

  test('SANs holding a comma come quoted, and split right', () => {
    expect(subjectAltNames('URI:"spiffe://a/b,c", DNS:x.example, email:a@b')).toEqual([
      { type: 'URI', value: 'spiffe://a/b,c' },
      { type: 'DNS', value: 'x.example' },
      { type: 'email', value: 'a@b' },
    ]);
  });
});

describe('a bearer token', () => {
  test('is read from "Bearer <token>", the scheme in any case', () => {
    expect(bearerToken(['Bearer s3cret'])).toEqual({ token: 's3cret' });
    expect(bearerToken(['bearer s3cret'])).toEqual({ token: 's3cret' });
  });

  test('is absent without authorization metadata', () => {
    expect(bearerToken([])).toEqual({ none: true });
  });

  test('any other authorization is malformed, and says so without echoing it', () => {
    for (const v of [['Basic dXNlcjpwdw=='], ['Bearer'], ['Bearer a b'], [Buffer.from('x')]]) {
      const r = bearerToken(v);
      expect(r).toEqual({ malformed: 'authorization must be "Bearer <token>"' });
    }
    expect(bearerToken(['Bearer a', 'Bearer b'])).toEqual({
      malformed: 'more than one authorization value',
    });
  });
});
