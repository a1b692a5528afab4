// The fenced write for PostgreSQL: one upsert whose WHERE clause is the fencing check, so that
// the check and the write are atomic under any isolation level. Takes anything with pg's
// `query(text, values)` (a pg Pool, Client or PoolClient): the SDK itself does not load pg.
import type { FencedStore } from './fenced-store.js';

/** The part of a pg Pool, Client or PoolClient used here. */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ rowCount: number | null }>;
}

export interface PgFencedTableOptions {
  /** The table, optionally schema-qualified ("billing.invoices"). */
  readonly table: string;
  /** Its key column, which must be its primary key or have a unique constraint. Default "id". */
  readonly keyColumn?: string;
  /** Its BIGINT column holding the token of the last write. Default "fencing_token". */
  readonly tokenColumn?: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/** A double-quoted SQL identifier; names are checked, never interpolated as given. */
function quote(name: string, what: string): string {
  if (!IDENTIFIER.test(name))
    throw new TypeError(`${what} "${name}" is not a plain SQL identifier`);
  return `"${name}"`;
}

/**
 * Rows of one table, each written only under a fencing token at least as high as the last:
 *
 *   INSERT INTO t (id, fencing_token, c1, ...) VALUES ($1, $2, $3, ...)
 *   ON CONFLICT (id) DO UPDATE SET c1 = EXCLUDED.c1, ..., fencing_token = EXCLUDED.fencing_token
 *   WHERE t.fencing_token <= EXCLUDED.fencing_token
 *
 * A refused write changes nothing and counts no row. The value is the row's other columns.
 */
export class PgFencedTable implements FencedStore<Readonly<Record<string, unknown>>> {
  private readonly table: string;
  private readonly key: string;
  private readonly token: string;

  constructor(
    private readonly db: PgQueryable,
    options: PgFencedTableOptions,
  ) {
    this.table = options.table
      .split('.')
      .map((part) => quote(part, 'table'))
      .join('.');
    this.key = quote(options.keyColumn ?? 'id', 'keyColumn');
    this.token = quote(options.tokenColumn ?? 'fencing_token', 'tokenColumn');
  }

  async write(
    key: string,
    token: bigint,
    values: Readonly<Record<string, unknown>>,
  ): Promise<boolean> {
    const columns = Object.keys(values).map((c) => quote(c, 'column'));
    if (columns.includes(this.key) || columns.includes(this.token))
      throw new TypeError('values must not set the key or the token column');
    const all = [this.key, this.token, ...columns];
    const params = all.map((_, i) => `$${i + 1}`);
    const sets = [...columns, this.token].map((c) => `${c} = EXCLUDED.${c}`);
    const sql =
      `INSERT INTO ${this.table} AS t (${all.join(', ')}) VALUES (${params.join(', ')}) ` +
      `ON CONFLICT (${this.key}) DO UPDATE SET ${sets.join(', ')} ` +
      `WHERE t.${this.token} <= EXCLUDED.${this.token}`;
    // BIGINT as text: exact beyond 2^53, and what pg expects of a bigint parameter.
    const result = await this.db.query(sql, [key, token.toString(), ...Object.values(values)]);
    return result.rowCount === 1;
  }
}
