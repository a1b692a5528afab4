// Where a caller's claimed identity comes from: the bearer token of its `authorization`
// metadata, or the verified certificate of its TLS connection.

/** The parts of a verified peer certificate (node:tls PeerCertificate) a name is read from. */
export interface CertificateFacts {
  readonly subject?: { readonly CN?: string | readonly string[] } | null;
  /** As node:tls gives it: `DNS:a.example, URI:spiffe://x/y, IP Address:10.0.0.1`. */
  readonly subjectaltname?: string;
}

/**
 * The name a certificate gives its holder: its Common Name, else its first URI SAN, else its
 * first DNS SAN. undefined when it has none of them.
 */
export function certificateName(cert: CertificateFacts): string | undefined {
  const cn = cert.subject?.CN;
  const first = typeof cn === 'string' ? cn : cn?.[0];
  if (first) return first;
  const sans = subjectAltNames(cert.subjectaltname ?? '');
  return sans.find((s) => s.type === 'URI')?.value ?? sans.find((s) => s.type === 'DNS')?.value;
}

/**
 * Splits node's subjectaltname string. Since Node 17 a value holding a comma or a quote is
 * written as a JSON string (`URI:"a,b"`), so entries are split on ", " outside quotes only.
 */
export function subjectAltNames(list: string): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  let i = 0;
  while (i < list.length) {
    const colon = list.indexOf(':', i);
    if (colon < 0) break;
    const type = list.slice(i, colon).trim();
    let value: string;
    let end: number;
    if (list[colon + 1] === '"') {
      end = colon + 2;
      while (end < list.length && list[end] !== '"') end += list[end] === '\\' ? 2 : 1;
      end++;
      try {
        value = JSON.parse(list.slice(colon + 1, end)) as string;
      } catch {
        value = list.slice(colon + 2, end - 1);
      }
    } else {
      end = list.indexOf(', ', colon);
      if (end < 0) end = list.length;
      value = list.slice(colon + 1, end);
    }
    out.push({ type, value });
    i = list.indexOf(', ', end);
    if (i < 0) break;
    i += 2;
  }
  return out;
}

export type BearerToken =
  { readonly token: string } | { readonly malformed: string } | { readonly none: true };

/** The token of `authorization: Bearer <token>` (the scheme in any case, as RFC 6750 allows). */
export function bearerToken(values: readonly (string | Buffer)[]): BearerToken {
  if (values.length === 0) return { none: true };
  if (values.length > 1) return { malformed: 'more than one authorization value' };
  const v = values[0];
  const m = typeof v === 'string' ? /^Bearer +(\S+) *$/i.exec(v) : null;
  if (!m) return { malformed: 'authorization must be "Bearer <token>"' };
  return { token: m[1]! };
}
