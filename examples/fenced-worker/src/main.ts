// Sample: a worker that holds a lock while it updates a row in PostgreSQL, and writes through
// the fencing check, so that once it has lost the lock its writes are refused by the database
// itself, whatever the worker believes.
//
//   node dist/examples/fenced-worker/src/main.js --id a [--pause]
//
// It acquires `invoices/42`, then writes the row `invoices(id '42')` a few times, each write
// carrying the lock's fencing token. With --pause it stops itself (SIGSTOP) just before its
// second write, as a long GC pause or a frozen VM would stop it between checking that it holds
// the lock and writing: resume it (`kill -CONT PID`) after its lease has expired and another
// worker has written, and the database refuses the late write. Exit codes: 0 all written,
// 3 a write was refused as stale.
//
// Environment: QUORUMLOCK_ENDPOINTS (comma-separated, default 127.0.0.1:7001-7003),
// DATABASE_URL (a PostgreSQL connection string), LEASE_TTL_MS (default 2000).
import { QuorumLockClient } from '@quorumlock/client';
import { fencedWrite, PgFencedTable, StaleFencingTokenError } from '@quorumlock/client/fencing';
import pg from 'pg';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { id: { type: 'string' }, pause: { type: 'boolean' }, writes: { type: 'string' } },
});
const id = args.id ?? `worker-${process.pid}`;
const WRITES = Number(args.writes ?? 3);

async function main(): Promise<number> {
  const endpoints = (
    process.env.QUORUMLOCK_ENDPOINTS ?? '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003'
  )
    .split(',')
    .filter((e) => e !== '');
  const client = new QuorumLockClient({ endpoints, owner: id });
  const db = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 1 });
  try {
    await db.query(
      'CREATE TABLE IF NOT EXISTS invoices (id TEXT PRIMARY KEY, fencing_token BIGINT NOT NULL, status TEXT)',
    );
    const invoices = new PgFencedTable(db, { table: 'invoices' });
    const lock = await client.acquire('invoices/42', {
      ttlMs: Number(process.env.LEASE_TTL_MS ?? 2000),
      waitMs: 60_000,
    });
    const token = lock.fencingToken;
    console.log(`${id} holds invoices/42 with fencing token ${token}`);
    for (let n = 1; n <= WRITES; n++) {
      if (n === 2 && args.pause) {
        console.log(`${id} pausing before write ${n}`);
        process.kill(process.pid, 'SIGSTOP');
      }
      try {
        await fencedWrite(invoices, '42', token, { status: `${id} write ${n}` });
      } catch (err) {
        if (!(err instanceof StaleFencingTokenError)) throw err;
        console.log(`${id} write ${n} refused: token ${token} is stale`);
        return 3;
      }
      console.log(`${id} wrote ${n} with token ${token}`);
    }
    await lock.release();
    return 0;
  } finally {
    await client.close();
    await db.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`${id}: ${String(err)}`);
    process.exit(1);
  },
);
