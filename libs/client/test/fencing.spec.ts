import fc from 'fast-check';
import pg from 'pg';
import {
  type FencedStore,
  fencedWrite,
  MemoryFencedStore,
  PgFencedTable,
  StaleFencingTokenError,
} from '../src/fencing/index.js';
import { Postgres } from '../../testing/src/postgres.js';

/** Writes as a lock's holders make them: a key, the grant's token, a value. */
const writes = fc.array(
  fc.record({
    key: fc.constantFrom('a', 'b'),
    token: fc.bigInt({ min: 1n, max: 12n }),
    value: fc.string({ maxLength: 8 }),
  }),
  { maxLength: 25 },
);

/** What the rule says of each write: accepted iff no earlier write to its key had a higher token. */
function expected(ws: { key: string; token: bigint }[]): boolean[] {
  const highest = new Map<string, bigint>();
  return ws.map(({ key, token }) => {
    const h = highest.get(key);
    if (h !== undefined && h > token) return false;
    highest.set(key, token);
    return true;
  });
}

describe('MemoryFencedStore', () => {
  it('accepts a write unless its key was written under a higher token', async () => {
    await fc.assert(
      fc.asyncProperty(writes, async (ws) => {
        const store = new MemoryFencedStore<string>();
        const got: boolean[] = [];
        for (const w of ws) got.push(await store.write(w.key, w.token, w.value));
        expect(got).toEqual(expected(ws));
      }),
    );
  });

  it('lets one holder write many times under its grant, and refuses a stale holder', async () => {
    const store = new MemoryFencedStore<string>();
    await fencedWrite(store, 'k', 5n, 'first');
    await fencedWrite(store, 'k', 5n, 'again');
    await fencedWrite(store, 'k', 6n, 'successor');
    await expect(fencedWrite(store, 'k', 5n, 'late')).rejects.toThrow(StaleFencingTokenError);
    expect(store.read('k')).toEqual({ token: 6n, value: 'successor' });
  });
});

describe('PgFencedTable against a real PostgreSQL server', () => {
  let server: Postgres;
  let pool: pg.Pool;

  beforeAll(async () => {
    server = await Postgres.start();
    pool = new pg.Pool({ connectionString: server.url, max: 4 });
  }, 60_000);

  afterAll(async () => {
    await pool?.end();
    await server?.stop();
  });

  let table = 0;
  async function freshTable(): Promise<string> {
    const name = `invoices_${++table}`;
    await pool.query(
      `CREATE TABLE ${name} (id TEXT PRIMARY KEY, fencing_token BIGINT NOT NULL, body TEXT)`,
    );
    return name;
  }

  async function rows(name: string): Promise<Record<string, { token: bigint; body: string }>> {
    const r = await pool.query<{ id: string; fencing_token: string; body: string }>(
      `SELECT id, fencing_token, body FROM ${name}`,
    );
    return Object.fromEntries(
      r.rows.map((x) => [x.id, { token: BigInt(x.fencing_token), body: x.body }]),
    );
  }

  it('agrees with the rule on every sequence of writes, and keeps the accepted values', async () => {
    await fc.assert(
      fc.asyncProperty(writes, async (ws) => {
        const name = await freshTable();
        const store: FencedStore<Record<string, unknown>> = new PgFencedTable(pool, {
          table: name,
        });
        const reference = new MemoryFencedStore<string>();
        const got: boolean[] = [];
        for (const w of ws) {
          got.push(await store.write(w.key, w.token, { body: w.value }));
          await reference.write(w.key, w.token, w.value);
        }
        expect(got).toEqual(expected(ws));
        const want: Record<string, { token: bigint; body: string }> = {};
        for (const key of ['a', 'b']) {
          const r = reference.read(key);
          if (r) want[key] = { token: r.token, body: r.value };
        }
        expect(await rows(name)).toEqual(want);
      }),
      { numRuns: 15 },
    );
  });

  it('keeps the highest token when writers race', async () => {
    const name = await freshTable();
    const store = new PgFencedTable(pool, { table: name });
    const tokens = [3n, 9n, 1n, 7n, 9n, 2n];
    await Promise.all(tokens.map((t) => store.write('x', t, { body: `t${t}` })));
    expect(await rows(name)).toEqual({ x: { token: 9n, body: 't9' } });
  });

  it('refuses names that are not plain identifiers, and writes to key or token columns', async () => {
    expect(() => new PgFencedTable(pool, { table: 'x; DROP TABLE y' })).toThrow(/table/);
    expect(() => new PgFencedTable(pool, { table: 't', tokenColumn: 'a b' })).toThrow(
      /tokenColumn/,
    );
    const store = new PgFencedTable(pool, { table: await freshTable() });
    await expect(store.write('x', 1n, { 'body"': 'v' })).rejects.toThrow(/column/);
    await expect(store.write('x', 1n, { fencing_token: 5 })).rejects.toThrow(/token column/);
  });
});
