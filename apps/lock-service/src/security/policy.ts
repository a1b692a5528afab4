// One loaded auth config as the questions calls ask of it: who a token or certificate is, and
// what an identity may do to a name. Plain and immutable: a reload builds a new one.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Action, AuthConfig } from './auth-config.js';

/** What a Watch's prefix covers for an identity: everything, part of it, or nothing. */
export type Coverage = 'all' | 'some' | 'none';

interface Rights {
  /** Prefixes granted per action; admin holds [''] when granted. */
  readonly prefixes: Readonly<Record<Action, readonly string[]>>;
}

export class AccessPolicy {
  private readonly rights = new Map<string, Rights>();
  private readonly tokens: { readonly user: string; readonly hash: Buffer }[] = [];

  constructor(config: AuthConfig) {
    for (const u of config.users) {
      const prefixes: Record<Action, string[]> = { lock: [], elect: [], read: [], admin: [] };
      for (const role of u.roles)
        for (const g of config.roles.get(role) ?? []) prefixes[g.action].push(g.prefix);
      this.rights.set(u.name, { prefixes });
      if (u.tokenSha256)
        this.tokens.push({ user: u.name, hash: Buffer.from(u.tokenSha256, 'hex') });
    }
  }

  get userCount(): number {
    return this.rights.size;
  }

  /**
   * The user whose token this is. Hashes are compared in constant time, every one of them, so
   * that neither a match nor how much of a hash matched shows in the time taken.
   */
  userOfToken(token: string): string | undefined {
    const hash = createHash('sha256').update(token, 'utf8').digest();
    let found: string | undefined;
    for (const t of this.tokens) if (timingSafeEqual(hash, t.hash) && !found) found = t.user;
    return found;
  }

  /** Whether a certificate naming `name` is a user. */
  isUser(name: string): boolean {
    return this.rights.has(name);
  }

  /** Whether `user` may do `action` on `name` (admin names nothing: pass ''). */
  allows(user: string, action: Action, name: string): boolean {
    const granted = this.rights.get(user)?.prefixes[action] ?? [];
    return granted.some((p) => name.startsWith(p));
  }

  isAdmin(user: string): boolean {
    return this.allows(user, 'admin', '');
  }

  /** How much of the names starting with `prefix` the user may read. */
  readCoverage(user: string, prefix: string): Coverage {
    const granted = this.rights.get(user)?.prefixes.read ?? [];
    if (granted.some((p) => prefix.startsWith(p))) return 'all';
    return granted.some((p) => p.startsWith(prefix)) ? 'some' : 'none';
  }
}
