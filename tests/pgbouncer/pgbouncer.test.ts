import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { createApp } from '../../src/app.ts';
import { startBackground } from '../../src/background.ts';
import { loadConfig } from '../../src/config.ts';
import { provisionApiRole } from '../../src/cli/provision.ts';
import { createPool, type Pool } from '../../src/db.ts';
import { createLogger } from '../../src/logger.ts';
import { sseReader, waitUntil } from '../events/support.ts';
import { checkedApp } from '../support/contract.ts';
import { createTestDatabase, TEST_API_ROLE, type TestDatabase, withAdmin } from '../support/db.ts';
import { expectProblem } from '../support/problem.ts';
import { DEFAULT_POOL_SIZE, type PgBouncer, PGBOUNCER_AVAILABLE, SKIPPED, startPgBouncer } from './pgbouncer.ts';

// The service behind PgBouncer 1.18 in transaction mode, where consecutive
// transactions of one client run on whichever server connection is free.

/** A role of this file's own, provisioned with a short statement timeout (a role's defaults are cluster-wide). */
const SLOW = { user: `inventory_api_pgb_${process.pid}`, password: `pgb-${crypto.randomUUID()}` };
const SLOW_TIMEOUT_MS = 500;

let db: TestDatabase;
/** PgBouncer as shipped: it refuses start-up parameters it does not know. */
let strict: PgBouncer | undefined;
/** PgBouncer told to drop the service's other start-up parameters (ignore_startup_parameters). */
let lenient: PgBouncer | undefined;
const pools: Pool[] = [];
let productId: number;

/** A pool through `bouncer`, configured as the service's (DB_PREPARE as given), as the API role. */
function pool(bouncer: PgBouncer, dbPrepare: boolean, max = 10, url = db.url): Pool {
  const sql = createPool({ databaseUrl: bouncer.via(url), poolMax: max, dbPrepare, connectTimeoutMs: 5000 }, 'pgbouncer-test');
  pools.push(sql);
  return sql;
}

const serverPort = () => Number(new URL(process.env.TEST_ADMIN_URL!).port);

beforeAll(async () => {
  db = await createTestDatabase();
  const [category] = await db.admin`INSERT INTO categories (name) VALUES ('Pooled') RETURNING id`;
  const [product] = await db.admin`
    INSERT INTO products (sku, name, price, quantity, category_id) VALUES ('POOLED-1', 'Pooled', 5, 0, ${category!.id})
    RETURNING id`;
  productId = product!.id as number;
  if (!PGBOUNCER_AVAILABLE) return;
  const owner = decodeURIComponent(new URL(process.env.TEST_ADMIN_URL!).username);
  await provisionApiRole(process.env.TEST_ADMIN_URL!, { database: db.name, user: owner, password: '' }, SLOW, {
    statementTimeoutMs: SLOW_TIMEOUT_MS,
  });
  const users = [TEST_API_ROLE, SLOW];
  strict = await startPgBouncer({ serverPort: serverPort(), users });
  lenient = await startPgBouncer({
    serverPort: serverPort(),
    users,
    ignoreStartupParameters: ['plan_cache_mode', 'statement_timeout', 'idle_in_transaction_session_timeout'],
  });
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end({ timeout: 5 }).catch(() => {})));
  await Promise.all([strict?.stop(), lenient?.stop()]);
  await db?.drop();
  await withAdmin((a) => a`DROP ROLE IF EXISTS ${a(SLOW.user)}`);
});

describe('session settings sent at connection start-up', () => {
  test('with DB_PREPARE (the default) the pool sets its timeouts and generic plans itself, 0 overriding the role default', async () => {
    const sql = createPool({ databaseUrl: db.url, poolMax: 1 }, 'pgbouncer-test');
    const none = createPool({ databaseUrl: db.url, poolMax: 1, statementTimeoutMs: 0 }, 'pgbouncer-test');
    pools.push(sql, none);
    const [row] = await sql`
      SELECT current_setting('plan_cache_mode') AS plan_cache_mode, current_setting('statement_timeout') AS statement_timeout,
             current_setting('idle_in_transaction_session_timeout') AS idle`;
    expect(row).toEqual({ plan_cache_mode: 'force_generic_plan', statement_timeout: '5s', idle: '1min' });
    const [unbounded] = await none`SELECT current_setting('statement_timeout') AS statement_timeout`;
    expect(unbounded!.statement_timeout).toBe('0');
  });

  test('provisioning gives the API role the same timeouts as its defaults', async () => {
    const [row] = await db.admin<{ settings: string[] }[]>`
      SELECT s.setconfig AS settings FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
      WHERE r.rolname = ${TEST_API_ROLE.user} AND s.setdatabase = 0`;
    expect(row?.settings).toEqual(
      expect.arrayContaining(['statement_timeout=5000', 'idle_in_transaction_session_timeout=60000']),
    );
  });
});

describe.skipIf(!PGBOUNCER_AVAILABLE)('through PgBouncer in transaction mode', () => {
  test(`the service's pool shares ${DEFAULT_POOL_SIZE} server connections (so state one client left on a session reaches another)`, async () => {
    const sql = pool(strict!, false);
    // Ten clients in a transaction each: at most DEFAULT_POOL_SIZE run at once, the others queue in PgBouncer.
    const pids = await Promise.all(
      Array.from({ length: 10 }, () => sql.begin(async (tx) => (await tx`SELECT pg_backend_pid() AS pid`)[0]!.pid as number)),
    );
    expect(new Set(pids).size).toBeLessThanOrEqual(DEFAULT_POOL_SIZE);
    // A session-level SET by one client is seen by the next transaction on that server connection, whoever sends it.
    const reserved = await sql.reserve();
    const others = await sql.reserve();
    const marker = () => others`SELECT current_setting('pgbouncer_test.marker', true) AS marker`.then((r) => r[0]!.marker);
    try {
      await reserved`SET pgbouncer_test.marker = 'left behind'`;
      const seen = await Promise.all(Array.from({ length: 10 }, marker));
      expect(seen).toContain('left behind');
    } finally {
      await reserved`RESET pgbouncer_test.marker`.catch(() => {});
      reserved.release();
      others.release();
    }
  });

  test('with DB_PREPARE=true, PgBouncer as shipped refuses the connection: unsupported startup parameter', async () => {
    const sql = pool(strict!, true, 1);
    const error = await sql`SELECT 1`.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/unsupported startup parameter/);
  });

  test('with DB_PREPARE=true (start-up parameters dropped), a named statement is missing on the next server connection', async () => {
    const sql = pool(lenient!, true, 1);
    const holder = postgres(lenient!.via(db.url), { max: 1, prepare: false, onnotice: () => {} });
    try {
      // In a transaction, as every write runs: postgres.js prepares a missing statement again only
      // outside one (inside, the error has aborted the transaction).
      const read = () => sql.begin((tx) => tx`SELECT quantity FROM products WHERE id = ${productId}`);
      // Parsed as a named statement on the one server connection there is.
      expect((await read())[0]!.quantity).toBe(0);
      // Another client holds that connection in a transaction: the next statement runs on a new one.
      await holder.begin(async (tx) => {
        await tx`SELECT 1`;
        const error = await read().then(
          () => undefined,
          (e: Error & { code?: string }) => e,
        );
        expect(error?.message).toMatch(/prepared statement ".*" does not exist/);
        expect(error?.code).toBe('26000');
      });
    } finally {
      await holder.end({ timeout: 5 });
    }
  });

  test('with DB_PREPARE=false the same sequence reads on either server connection', async () => {
    const sql = pool(strict!, false, 1);
    const holder = postgres(strict!.via(db.url), { max: 1, prepare: false, onnotice: () => {} });
    try {
      const read = () => sql.begin((tx) => tx`SELECT quantity, pg_backend_pid() AS pid FROM products WHERE id = ${productId}`);
      expect((await read())[0]!.quantity).toBe(0);
      await holder.begin(async (tx) => {
        const [held] = await tx`SELECT pg_backend_pid() AS pid`;
        const [row] = await read();
        expect(row!.quantity).toBe(0);
        expect(row!.pid).not.toBe(held!.pid);
      });
    } finally {
      await holder.end({ timeout: 5 });
    }
  });

  test('with DB_PREPARE=false the statement timeout (the role default) still applies: a stuck request answers 503', async () => {
    const url = new URL(db.url);
    url.username = SLOW.user;
    url.password = encodeURIComponent(SLOW.password);
    const sql = pool(strict!, false, 10, url.toString());
    const [setting] = await sql`SELECT current_setting('statement_timeout') AS value`;
    expect(setting!.value).toBe(`${SLOW_TIMEOUT_MS}ms`);
    const slept = await sql`SELECT pg_sleep(5)`.then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(slept?.code).toBe('57014'); // canceling statement due to statement timeout

    const app = checkedApp(createApp({ sql, config: { dbPrepare: false, eventsListen: false }, logger: createLogger('silent') }));
    // A row lock held on a direct connection: the PATCH waits for it until the server cancels it.
    const direct = await db.admin.reserve();
    let answer: Response | 'still waiting';
    try {
      await direct`BEGIN`;
      await direct`SELECT id FROM products WHERE id = ${productId} FOR UPDATE`;
      const patched = app.request(`/products/${productId}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ description: 'while locked' }),
      });
      // Bounded: without the timeout the PATCH would wait for the lock until it is released below.
      answer = await Promise.race([patched, Bun.sleep(10_000).then(() => 'still waiting' as const)]);
    } finally {
      await direct`ROLLBACK`;
      direct.release();
    }
    expect(answer).not.toBe('still waiting');
    await expectProblem(answer as Response, 503, 'database_unavailable');
    const [row] = await db.admin`SELECT description FROM products WHERE id = ${productId}`;
    expect(row!.description).toBeNull();
  });

  test('with DB_PREPARE=false the background jobs publish through PgBouncer and an event stream polls instead of LISTEN', async () => {
    const config = loadConfig({
      DATABASE_URL: strict!.via(db.url),
      DB_PREPARE: 'false',
      EVENTS_STREAM_POLL_MS: '50',
      EVENTS_PUBLISH_INTERVAL_MS: '20',
    });
    expect(config.eventsListen).toBe(false);
    const sql = pool(strict!, false);
    const app = checkedApp(createApp({ sql, config, logger: createLogger('silent') }));
    // The publisher's transaction (a row lock, then NOTIFY at commit) on a pool of its own, as the service runs it.
    const jobs = startBackground({ sql: pool(strict!, false, 4), config, logger: createLogger('silent') });
    const unpublished = async () =>
      (await db.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM events WHERE position IS NULL`)[0]!.n;
    try {
      await waitUntil('what earlier tests wrote to be published', async () => (await unpublished()) === 0);
      const stream = sseReader(await app.request('/events/stream'));
      await stream.next();
      const created = await app.request('/products', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Streamed', price: 2, quantity: 3, category: 'Pooled' }),
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: number };
      const [event] = await stream.events(1);
      expect(event).toMatchObject({ type: 'product.created', product_id: id });
      await stream.cancel();
    } finally {
      await app.eventStreams.close();
      await jobs.stop();
    }
  });
});

if (!PGBOUNCER_AVAILABLE) test.skip(SKIPPED, () => {});
