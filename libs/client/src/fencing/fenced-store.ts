// Fenced writes: a fencing token protects nothing unless the storage checks it. The rule every
// store here implements: a write carries the token of the grant it is made under, and the store
// refuses it when the key was already written under a higher token. Tokens are unique per grant
// and strictly increasing per lock, so a holder that lost its lock (paused past its TTL, cut off
// by a partition) cannot overwrite what its successor wrote, while one holder may write many
// times under the same grant.

/**
 * A store that keeps, per key, the highest fencing token it was written under: a compare-and-set
 * on the token. Implement it over any store with a conditional write (a SQL `WHERE`, a
 * DynamoDB condition expression, a Redis script, an etcd transaction).
 */
export interface FencedStore<V> {
  /**
   * Writes `value` under `key` unless the key was written under a higher token. Resolves true if
   * the value was written, false if it was refused; the check and the write are one atomic step.
   */
  write(key: string, token: bigint, value: V): Promise<boolean>;
}

/** A write refused because the key was written under a higher fencing token. */
export class StaleFencingTokenError extends Error {
  constructor(
    readonly key: string,
    readonly token: bigint,
  ) {
    super(`write to ${key} with fencing token ${token} refused: written under a higher token`);
    this.name = new.target.name;
  }
}

/** Writes through `store`, throwing StaleFencingTokenError when the write is refused. */
export async function fencedWrite<V>(
  store: FencedStore<V>,
  key: string,
  token: bigint,
  value: V,
): Promise<void> {
  if (!(await store.write(key, token, value))) throw new StaleFencingTokenError(key, token);
}

/** The rule in memory: for tests, and as the reference the other stores must agree with. */
export class MemoryFencedStore<V> implements FencedStore<V> {
  private readonly rows = new Map<string, { token: bigint; value: V }>();

  write(key: string, token: bigint, value: V): Promise<boolean> {
    const row = this.rows.get(key);
    if (row !== undefined && row.token > token) return Promise.resolve(false);
    this.rows.set(key, { token, value });
    return Promise.resolve(true);
  }

  /** The value last written under `key`, with its token. */
  read(key: string): { token: bigint; value: V } | undefined {
    return this.rows.get(key);
  }
}
