/**
 * A product's `available` reads reservations only for a product that may hold
 * an open one: products.reserved_until, never earlier than the expiry of any
 * open reservation of the product (db/migrations/20261130000011_products_reserved_until.sql,
 * src/products/queries.ts AVAILABLE_SQL). Most products hold none, and their
 * rows never read reservations, whatever plan reading them would take: here a
 * generic plan (the service's pools use force_generic_plan) made while
 * reservations was empty, still in use after thousands were added.
 *
 * The statements are the service's own (the query functions on a pool
 * configured like the service's); the plans are those that pool's connection
 * cached for them, run by EXPLAIN (ANALYZE) EXECUTE. A row reads reservations
 * through a subplan (its loops) or a function (product_reserved, its calls
 * counted by PostgreSQL): the tests count both, whichever form AVAILABLE_SQL takes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { dbmate } from '../../src/cli/dbmate.ts';
import { createPool, type Pool } from '../../src/db.ts';
import { findProductById, listProducts, type ProductFilter, searchProducts, updateProduct } from '../../src/products/queries.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { within } from '../support/time.ts';

const QUIET_PRODUCTS = 60;
const BUSY_PRODUCTS = 5000;
const RESERVATIONS_EACH = 4;
const QUANTITY = 10;

type Node = {
  'Node Type': string;
  'Relation Name'?: string;
  'Parent Relationship'?: string;
  'Actual Loops'?: number;
  'Actual Rows'?: number;
  Plans?: Node[];
};
const nodesOf = (n: Node): Node[] => [n, ...(n.Plans ?? []).flatMap(nodesOf)];

let t: TestDatabase;
/** Like the service's pool, with one connection: its prepared statements, and their plans, last the whole file. */
let pool: Pool;
let sent: { query: string; parameters: unknown[] }[] = [];
/** The products of the listed category, by name (as listed), and the id of a product of the other. */
let quiet: { id: number; sku: string }[];

beforeAll(async () => {
  t = await createTestDatabase();
  // Reservations empty and analysed as such, and not analysed again behind the test's back:
  // an ANALYZE would make the pool's connection plan its statements anew.
  await t.admin`ANALYZE reservations`;
  await t.admin`ALTER TABLE reservations SET (autovacuum_enabled = false)`;
  // Calls of PL/pgSQL functions counted (pg_stat_xact_user_functions) in the sessions opened from now.
  await t.admin.unsafe(`ALTER DATABASE ${t.name} SET track_functions = 'pl'`);
  await t.sql.begin(async (sql) => {
    await sql`SET LOCAL statement_timeout = 0`;
    await sql`INSERT INTO categories (name) VALUES ('Quiet'), ('Busy')`;
    await sql`
      WITH p AS (
        INSERT INTO products (sku, name, price, quantity, category_id)
        SELECT format('QUIET-%s', lpad(i::text, 3, '0')), format('Quiet product %s', lpad(i::text, 3, '0')), 1, ${QUANTITY}::int,
               (SELECT id FROM categories WHERE name = 'Quiet')
        FROM generate_series(1, ${QUIET_PRODUCTS}) i
        UNION ALL
        SELECT format('BUSY-%s', i), format('Busy product %s', i), 1, ${QUANTITY}::int, (SELECT id FROM categories WHERE name = 'Busy')
        FROM generate_series(1, ${BUSY_PRODUCTS}) i
        RETURNING id, quantity
      )
      INSERT INTO stock_movements (product_id, delta, reason, quantity_after)
      SELECT id, quantity, 'initial', quantity FROM p`;
  });
  await t.admin`ANALYZE products`;
  quiet = [...(await t.sql<{ id: number; sku: string }[]>`SELECT id, sku FROM products WHERE sku LIKE 'QUIET-%' ORDER BY name`)];
  pool = createPool({ databaseUrl: t.url, poolMax: 1 }, 'inventory-available-hint');
  pool.options.debug = (_c: number, query: string, parameters: unknown[]) => {
    sent.push({ query, parameters: [...parameters] });
  };
}, 120_000);

afterAll(async () => {
  await pool?.end({ timeout: 5 });
  await t?.drop();
});

const QUIET_PAGE: ProductFilter = { category: 'Quiet', archived: false, sort: 'name', limit: 50 };

/** The first page of the listed category, as the service lists it, on the pool's one connection. */
async function listQuiet() {
  sent = [];
  const rows = await listProducts(pool, QUIET_PAGE);
  const statement = sent.find((s) => /\bFROM products\b/.test(s.query));
  if (!statement) throw new Error('the listing sent no statement reading products');
  return { rows, statement };
}

/**
 * Runs the statement as the pool's connection prepared it, with its parameters,
 * under EXPLAIN (ANALYZE): the plan that connection cached, what each node did,
 * and how many times a row read reservations (the loops of the subplans that
 * read them, and the calls of product_reserved).
 */
async function explainCached(statement: { query: string; parameters: unknown[] }) {
  return pool.begin(async (tx) => {
    const [tracked] = await tx<{ track_functions: string }[]>`SHOW track_functions`;
    expect(tracked!.track_functions, 'calls of PL/pgSQL functions are counted').toBe('pl');
    const [prepared] = await tx<{ name: string; generic_plans: number; custom_plans: number }[]>`
      SELECT name, generic_plans::int, custom_plans::int FROM pg_prepared_statements WHERE statement = ${statement.query}`;
    expect(prepared, 'the listing is a prepared statement of the connection').toBeDefined();
    const literals = [];
    for (const p of statement.parameters) {
      const [row] = await tx<{ literal: string }[]>`SELECT quote_nullable(${p === null ? null : String(p)}::text) AS literal`;
      literals.push(row!.literal);
    }
    // The counts of calls not yet reported, which no report changes within a transaction: before and after.
    const calls = async () => {
      const [row] = await tx<{ calls: number }[]>`
        SELECT coalesce(sum(calls), 0)::int AS calls FROM pg_stat_xact_user_functions WHERE funcname = 'product_reserved'`;
      return row!.calls;
    };
    const before = await calls();
    // The driver's statement names may start with a digit: quoted, as an identifier.
    const name = `"${prepared!.name.replaceAll('"', '""')}"`;
    const [row] = await tx.unsafe(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ${name} (${literals.join(', ')})`);
    const plan = (row!['QUERY PLAN'] as [{ Plan: Node }])[0].Plan;
    const called = (await calls()) - before;
    const loops = nodesOf(plan)
      .filter((n) => n['Parent Relationship'] === 'SubPlan' && nodesOf(n).some((m) => m['Relation Name'] === 'reservations'))
      .reduce((sum, n) => sum + (n['Actual Loops'] ?? 0), 0);
    return { plan, prepared: prepared!, readsOfReservations: loops + called };
  });
}

/** The plan in one line, for assertion messages. */
const shape = (plan: Node) =>
  nodesOf(plan)
    .map((n) => `${n['Node Type']}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''} (loops ${n['Actual Loops']})`)
    .join(' > ');

const availableOf = (rows: { id: number; available: number }[], id: number) => rows.find((r) => r.id === id)?.available;

/** Waits, bounded, until the database's clock is past the reservation's expiry. */
async function untilExpired(reservation: number) {
  const past = async () => {
    for (;;) {
      const [row] = await t.sql<
        { past: boolean }[]
      >`SELECT expires_at <= now() AS past FROM reservations WHERE id = ${reservation}`;
      if (row!.past) return;
      await Bun.sleep(50);
    }
  };
  await within(10_000, past());
}

describe('a listing of products without reservations', () => {
  test('never reads reservations: its generic plan, made while reservations was empty, after 20,000 were added for other products', async () => {
    const first = await listQuiet();
    expect(first.rows.length).toBe(51);
    // Many open reservations, all of products of the other category: written in one statement
    // (reservations_set_product_reserved_until keeps reserved_until as stock_reserve's would).
    await t.sql.begin(async (sql) => {
      await sql`SET LOCAL statement_timeout = 0`;
      await sql`
        INSERT INTO reservations (product_id, location_id, quantity, expires_at)
        SELECT p.id, default_location(), 1, now() + interval '1 hour'
        FROM products p CROSS JOIN generate_series(1, ${RESERVATIONS_EACH})
        WHERE p.category_id = (SELECT id FROM categories WHERE name = 'Busy')`;
    });
    const [{ n }] = await t.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM reservations WHERE state = 'open'`;
    expect(n).toBe(BUSY_PRODUCTS * RESERVATIONS_EACH);

    const again = await listQuiet();
    expect(again.statement.query).toBe(first.statement.query);
    expect(again.rows.map((r) => r.available)).toEqual(again.rows.map(() => QUANTITY));
    const { plan, prepared, readsOfReservations } = await explainCached(again.statement);
    // The plan the service would run: generic, made once; the listing's 51 rows.
    expect(prepared.generic_plans).toBeGreaterThanOrEqual(2);
    expect(prepared.custom_plans).toBe(0);
    expect(plan['Actual Rows']).toBe(51);
    // No row read reservations.
    expect(readsOfReservations, shape(plan)).toBe(0);
  }, 30_000);
});

describe('a product with a live reservation', () => {
  test('shows it in listings, lookups and searches; expired, or released, it shows its quantity again', async () => {
    const [expiring, released] = [quiet[0]!, quiet[1]!];
    const [short] = await t.sql<{ id: number }[]>`
      SELECT id FROM stock_reserve(${expiring.id}, default_location(), 3, now() + interval '2 seconds')`;
    const [long] = await t.sql<{ id: number }[]>`
      SELECT id FROM stock_reserve(${released.id}, default_location(), 4, now() + interval '1 hour')`;
    const seen = async (p: { id: number; sku: string }) => {
      const listed = availableOf((await listQuiet()).rows, p.id);
      const one = (await findProductById(pool, p.id))?.available;
      const found = (await searchProducts(pool, { text: p.sku, sku: p.sku.toLowerCase(), archived: false, limit: 20 })).find(
        (r) => r.id === p.id,
      )?.available;
      return [listed, one, found];
    };
    expect(await seen(expiring)).toEqual([7, 7, 7]);
    expect(await seen(released)).toEqual([6, 6, 6]);
    // Only the two reserved rows of the page read reservations.
    expect((await explainCached((await listQuiet()).statement)).readsOfReservations).toBe(2);

    await t.sql`SELECT stock_release(${long!.id})`;
    expect(await seen(released)).toEqual([10, 10, 10]);
    await untilExpired(short!.id);
    expect(await seen(expiring)).toEqual([10, 10, 10]);
    // Both still read them, and find nothing open: reserved_until is an upper bound, the end of the
    // hour of the expiry, and a release leaves it where it was.
    expect((await explainCached((await listQuiet()).statement)).readsOfReservations).toBe(2);
  });

  test('fulfilled, its reserved_until comes down to cover the open reservations left, and to NULL when none is', async () => {
    const p = quiet[2]!;
    const [first] = await t.sql<{ id: number }[]>`
      SELECT id FROM stock_reserve(${p.id}, default_location(), 2, now() + interval '1 day')`;
    const [second] = await t.sql<{ id: number }[]>`
      SELECT id FROM stock_reserve(${p.id}, default_location(), 1, now() + interval '30 minutes')`;
    const state = async () => {
      // Whether reserved_until is past the latest open expiry, by at most an hour (NULL: no hint, or none open).
      const [row] = await t.sql<{ hint: string | null; covers: boolean | null }[]>`
        SELECT p.reserved_until AS hint, p.reserved_until >= o.until AND p.reserved_until <= o.until + interval '1 hour' AS covers
        FROM products p,
             LATERAL (SELECT max(r.expires_at) AS until FROM reservations r WHERE r.product_id = p.id AND r.state = 'open') o
        WHERE p.id = ${p.id}`;
      const product = await findProductById(pool, p.id);
      return {
        hint: row!.hint === null ? null : 'set',
        covers: row!.covers,
        quantity: product!.quantity,
        available: product!.available,
      };
    };
    expect(await state()).toEqual({ hint: 'set', covers: true, quantity: 10, available: 7 });
    await t.sql`SELECT stock_fulfil(${first!.id})`;
    expect(await state()).toEqual({ hint: 'set', covers: true, quantity: 8, available: 7 });
    await t.sql`SELECT stock_fulfil(${second!.id})`;
    expect(await state()).toEqual({ hint: null, covers: null, quantity: 7, available: 7 });
  });

  test('written or extended by hand, a reservation moves reserved_until as well', async () => {
    const p = quiet[3]!;
    const [r] = await t.admin<{ id: number }[]>`
      INSERT INTO reservations (product_id, location_id, quantity, expires_at)
      VALUES (${p.id}, default_location(), 2, now() + interval '10 minutes') RETURNING id`;
    expect((await findProductById(pool, p.id))!.available).toBe(8);
    await t.admin`UPDATE reservations SET expires_at = now() + interval '2 hours' WHERE id = ${r!.id}`;
    const [row] = await t.sql<{ covers: boolean }[]>`
      SELECT p.reserved_until >= r.expires_at AND p.reserved_until <= r.expires_at + interval '1 hour' AS covers
      FROM products p, reservations r WHERE p.id = ${p.id} AND r.id = ${r!.id}`;
    expect(row!.covers).toBe(true);
  });
});

describe('reserved_until is no part of the product', () => {
  test("a reservation changes neither the product's version (its ETag) nor updated_at; an edit still does", async () => {
    const p = quiet[4]!;
    const before = (await findProductById(pool, p.id))!;
    expect(Object.keys(before)).not.toContain('reserved_until');
    await t.sql`SELECT stock_reserve(${p.id}, default_location(), 1, now() + interval '1 hour')`;
    const reserved = (await findProductById(pool, p.id))!;
    expect(reserved).toEqual({ ...before, available: before.available - 1 });
    // Moved alone, by hand: still no new version.
    await t.admin`UPDATE products SET reserved_until = reserved_until + interval '1 day' WHERE id = ${p.id}`;
    expect(await findProductById(pool, p.id)).toEqual(reserved);
    // Moved together with a change of the product: a new version, as any change.
    await t.admin`UPDATE products SET reserved_until = reserved_until + interval '1 day', description = 'Changed' WHERE id = ${p.id}`;
    const changed = (await findProductById(pool, p.id))!;
    expect(changed.version).toBe(before.version + 1);
    expect(changed.updated_at > before.updated_at).toBe(true);
    const edited = await updateProduct(pool, p.id, { name: 'Quiet product renamed' }, [changed.version]);
    expect('row' in edited && edited.row.version).toBe(before.version + 2);
  });
});

describe('the migration', () => {
  test('gives the products with open reservations a reserved_until past their latest expiry, and changes no version', async () => {
    const db = await createTestDatabase();
    try {
      const hint = '20261130000011';
      const applied = async () =>
        (await db.admin<{ version: string }[]>`SELECT version FROM schema_migrations WHERE version >= ${hint}`).length;
      while ((await applied()) > 0) await dbmate(db.adminUrl, ['down'], true);
      await db.admin`INSERT INTO categories (name) VALUES ('Before')`;
      await db.admin`
        WITH p AS (
          INSERT INTO products (sku, name, price, quantity, category_id)
          SELECT 'BEFORE-' || i, 'Before ' || i, 1, 10, (SELECT id FROM categories) FROM generate_series(1, 3) i
          RETURNING id, quantity
        )
        INSERT INTO stock_movements (product_id, delta, reason, quantity_after) SELECT id, quantity, 'initial', quantity FROM p`;
      // BEFORE-1: two open reservations; BEFORE-2: one released; BEFORE-3: none.
      await db.admin`SELECT stock_reserve(id, default_location(), 1, now() + interval '1 hour') FROM products WHERE sku = 'BEFORE-1'`;
      await db.admin`SELECT stock_reserve(id, default_location(), 1, now() + interval '3 hours') FROM products WHERE sku = 'BEFORE-1'`;
      await db.admin`SELECT stock_release((stock_reserve(id, default_location(), 1, now() + interval '1 hour')).id)
                     FROM products WHERE sku = 'BEFORE-2'`;
      const versions = async () => [...(await db.admin`SELECT sku, version, updated_at FROM products ORDER BY sku`)];
      const before = await versions();

      await dbmate(db.adminUrl, ['up'], true);

      expect(await versions()).toEqual(before);
      // Past the latest open expiry by at most an hour; NULL without one.
      const hints = await db.admin<{ sku: string; covers: boolean | null; none: boolean }[]>`
        SELECT p.sku, p.reserved_until >= o.until AND p.reserved_until <= o.until + interval '1 hour' AS covers,
               p.reserved_until IS NULL AS none
        FROM products p,
             LATERAL (SELECT max(r.expires_at) AS until FROM reservations r WHERE r.product_id = p.id AND r.state = 'open') o
        ORDER BY p.sku`;
      expect([...hints]).toEqual([
        { sku: 'BEFORE-1', covers: true, none: false },
        { sku: 'BEFORE-2', covers: null, none: true },
        { sku: 'BEFORE-3', covers: null, none: true },
      ]);
    } finally {
      await db.drop();
    }
  }, 60_000);
});
