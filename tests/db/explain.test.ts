/**
 * Every product listing the service runs is served by its index: the planner,
 * left to itself on a realistically sized and analysed catalog, reads the rows
 * in index order (no Sort) and never scans the whole products table.
 *
 * The SQL is not copied here: listProducts runs on a pool configured like the
 * service's, postgres.js' `debug` hook captures the statement and its
 * parameters, and the test EXPLAINs exactly that, both as planned for those
 * parameters and as the generic plan a prepared statement may settle on.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { listProducts, type ProductFilter, type ProductListRow } from '../../src/products/queries.ts';
import type { ProductSort } from '../../src/products/model.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import {
  type Captured,
  capturingPool,
  customPlan as customPlanOf,
  genericPlan as genericPlanOf,
  nodesOf,
  type PlanNode,
  planShape,
} from '../support/plans.ts';

const CATEGORIES = 50;
const PRODUCTS_PER_CATEGORY = 400;
const PAGE = 20;

let t: TestDatabase;
/** A pool like the service's that records every statement it sends. */
let capturing: ReturnType<typeof capturingPool>;

beforeAll(async () => {
  t = await createTestDatabase();
  await t.sql`
    INSERT INTO categories (name)
    SELECT format('Category %s', lpad(c::text, 2, '0')) FROM generate_series(1, ${CATEGORIES}) c`;
  // Prices and creation times repeat, so the id tie-breaker matters; one product in ten is archived.
  // Stocked products get their initial movement, as the ledger requires. One statement that may
  // take longer than the service's statement timeout on a busy machine.
  await t.sql.begin(async (sql) => {
    await sql`SET LOCAL statement_timeout = 0`;
    await sql`
    WITH p AS (
    INSERT INTO products (sku, name, description, price, quantity, category_id, created_at, archived_at)
    SELECT format('SKU-%s', lpad(i::text, 6, '0')),
           format('Product %s', md5(i::text)),
           'Generated for the plan tests',
           ((i * 7919) % 50000) / 100.0,
           i % 300,
           c.id,
           timestamptz '2026-01-01 00:00:00+00' + ((i * 37) % 15000) * interval '1 second',
           CASE WHEN i % 10 = 0 THEN timestamptz '2026-06-01 00:00:00+00' END
    FROM generate_series(1, ${CATEGORIES * PRODUCTS_PER_CATEGORY}) i
    JOIN categories c ON c.name = format('Category %s', lpad((1 + i % ${CATEGORIES})::text, 2, '0'))
    RETURNING id, quantity
    )
    INSERT INTO stock_movements (product_id, delta, reason, quantity_after)
    SELECT id, quantity, 'initial', quantity FROM p WHERE quantity > 0`;
  });
  // ANALYZE needs the owner: the API role would be skipped with a warning.
  await t.admin`ANALYZE categories`;
  await t.admin`ANALYZE products`;

  capturing = capturingPool(t.url);
}, 120_000);

afterAll(async () => {
  await capturing?.pool.end({ timeout: 5 });
  await t?.drop();
});

/** Runs listProducts on the capturing pool; returns its rows and the statement it sent. */
async function captureListing(filter: ProductFilter) {
  const { result, statement } = await capturing.capture((sql) => listProducts(sql, filter), /\bFROM products\b/);
  return { rows: result as ProductListRow[], statement };
}

const customPlan = (statement: Captured) => customPlanOf(t.sql, statement);
const genericPlan = (statement: Captured) => genericPlanOf(t.sql, statement);

/**
 * Asserts the plan cuts the page from products through `index` only, in the
 * sort's direction, sorting nothing on the way: the only sort allowed is the
 * one above the Limit, which puts the page's own rows back in order after the
 * join to categories.
 */
function expectIndexOrderedPlan(plan: PlanNode, index: string, sort: ProductSort, page: string) {
  const nodes = nodesOf(plan);
  const where = `plan: ${planShape(plan)}`;
  const limit = nodes.find((n) => n['Node Type'] === 'Limit');
  expect(limit, where).toBeDefined();
  const cut = nodesOf(limit!);
  expect(
    cut.filter((n) => /^(Incremental )?Sort$/.test(n['Node Type'])).map((n) => n['Node Type']),
    where,
  ).toEqual([]);
  expect(
    nodes.filter((n) => n['Relation Name'] === 'products' && !cut.includes(n)),
    where,
  ).toEqual([]);
  const productScans = nodes.filter((n) => n['Relation Name'] === 'products');
  expect(
    productScans.map((n) => n['Node Type']),
    where,
  ).toEqual([expect.stringMatching(/^Index (Only )?Scan$/)]);
  const [scan] = productScans;
  expect(scan!['Index Name'], where).toBe(index);
  expect(scan!['Scan Direction'], where).toBe(sort.startsWith('-') ? 'Backward' : 'Forward');
  // The index answers the whole WHERE clause: no row is read only to be thrown away.
  expect(scan!.Filter, `filter on products; ${where}`).toBeUndefined();
  if (page === 'page after a cursor') {
    // The cursor is where the index scan starts, not a filter applied to the rows before it.
    const field = sort.replace(/^-/, '');
    const keyset = field === 'name' ? 'lower(name)' : `ROW(${field}, id)`;
    expect(scan!['Index Cond'], where).toContain(`${keyset} ${sort.startsWith('-') ? '<' : '>'} `);
  }
}

/** The keyset of a row for a sort, as the API's cursor carries it. */
function keysetOf(row: ProductListRow, sort: ProductSort) {
  const field = sort.replace(/^-/, '') as 'name' | 'price' | 'created_at';
  return { key: String(row[field]), id: row.id };
}

const SORTS: ProductSort[] = ['name', '-name', 'price', '-price', 'created_at', '-created_at'];

/** The index each listing must be read through. */
const EXPECTED_INDEX: Record<'all' | 'category', Record<'name' | 'price' | 'created_at', string>> = {
  all: { name: 'products_name_key', price: 'products_price_idx', created_at: 'products_created_at_idx' },
  category: {
    name: 'products_category_name_idx',
    price: 'products_category_price_idx',
    created_at: 'products_category_created_at_idx',
  },
};

const cases = (['all', 'category'] as const).flatMap((scope) =>
  SORTS.flatMap((sort) => (['first page', 'page after a cursor'] as const).map((page) => ({ scope, sort, page }))),
);

describe('product listings are read through their index, without sorting or scanning the table', () => {
  test.each(cases)('$scope products, sort $sort, $page', async ({ scope, sort, page }) => {
    const filter: ProductFilter = {
      archived: false,
      sort,
      limit: PAGE,
      ...(scope === 'category' ? { category: 'category 17' } : {}),
    };
    let captured = await captureListing(filter);
    expect(captured.rows.length).toBe(PAGE + 1);
    if (page === 'page after a cursor') {
      captured = await captureListing({ ...filter, after: keysetOf(captured.rows[PAGE - 1]!, sort) });
      expect(captured.rows.length).toBe(PAGE + 1);
    }

    const index = EXPECTED_INDEX[scope][sort.replace(/^-/, '') as 'name'];
    expectIndexOrderedPlan(await customPlan(captured.statement), index, sort, page);
    expectIndexOrderedPlan(await genericPlan(captured.statement), index, sort, page);
  });
});
