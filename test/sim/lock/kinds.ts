// The lock kinds the simulated clients use, by name: each name is always asked for with the
// same limit and lock-delay (a name's limit is fixed while it is held, and the checker judges a
// delay by its name), readers and writers mixing on one of them.

export interface NameKind {
  /** Holds are SHARED with this probability, else EXCLUSIVE. */
  readonly sharedRatio: number;
  /** EXCLUSIVE holders at once (1: a mutex). */
  readonly limit: number;
  /** Every hold's lock-delay (ms). */
  readonly delayMs: number;
}

export const KIND_LOCKS: Readonly<Record<string, NameKind>> = {
  'l/rw': { sharedRatio: 0.7, limit: 1, delayMs: 0 },
  'l/sem': { sharedRatio: 0, limit: 3, delayMs: 0 },
  'l/delay': { sharedRatio: 0.3, limit: 1, delayMs: 700 },
};

const PLAIN: NameKind = { sharedRatio: 0, limit: 1, delayMs: 0 };

export function kindOfName(name: string): NameKind {
  return KIND_LOCKS[name] ?? PLAIN;
}

/** One hold's request fields on a name, drawn with `rand`. */
export function holdRequest(name: string, rand: () => number) {
  const k = kindOfName(name);
  const shared = k.sharedRatio > 0 && rand() < k.sharedRatio;
  return { shared, limit: shared ? 0 : k.limit, delayMs: k.delayMs };
}
