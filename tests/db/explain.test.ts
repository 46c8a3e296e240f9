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
import { createPool, type Pool } from '../../src/db.ts';
import { listProducts, type ProductFilter, type ProductListRow } from '../../src/products/queries.ts';
import type { ProductSort } from '../../src/products/model.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

const CATEGORIES = 50;
const PRODUCTS_PER_CATEGORY = 400;
const PAGE = 20;

let t: TestDatabase;
/** A pool like the service's whose `debug` hook records every statement it sends. */
let capturing: Pool;
let recording: Captured[] | undefined;

/** A statement as postgres.js sent it: text with $n placeholders, parameter values and type oids (0: server infers). */
type Captured = { query: string; parameters: unknown[]; types: number[] };

beforeAll(async () => {
  t = await createTestDatabase();
  await t.sql`
    INSERT INTO categories (name)
    SELECT format('Category %s', lpad(c::text, 2, '0')) FROM generate_series(1, ${CATEGORIES}) c`;
  // Prices and creation times repeat, so the id tie-breaker matters; one product in ten is archived.
  // Stocked products get their initial movement, as the ledger requires.
  await t.sql`
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
  // ANALYZE needs the owner: the API role would be skipped with a warning.
  await t.admin`ANALYZE categories`;
  await t.admin`ANALYZE products`;

  capturing = createPool({ databaseUrl: t.url, poolMax: 1 }, 'inventory-explain');
  capturing.options.debug = (_connection: number, query: string, parameters: unknown[], types: number[]) => {
    recording?.push({ query, parameters: [...parameters], types: [...types] });
  };
});

afterAll(async () => {
  await capturing?.end({ timeout: 5 });
  await t?.drop();
});

/** Runs listProducts in a transaction on the capturing pool; returns its rows and the statement it sent. */
async function captureListing(filter: ProductFilter) {
  recording = [];
  try {
    const rows = await capturing.begin((tx) => listProducts(tx, filter));
    const statements = recording.filter((s) => /\bFROM products\b/.test(s.query));
    expect(statements.length, 'listProducts sends one statement').toBe(1);
    return { rows: rows as ProductListRow[], statement: statements[0]! };
  } finally {
    recording = undefined;
  }
}

type PlanNode = {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Scan Direction'?: string;
  'Index Cond'?: string;
  Filter?: string;
  Plans?: PlanNode[];
};

function nodesOf(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodesOf)];
}

/** The planner's own plan for the captured statement, planned with its captured parameters. */
async function customPlan(statement: Captured): Promise<PlanNode> {
  const parameters = statement.parameters.map((p, i) => (statement.types[i] ? t.sql.typed(p as never, statement.types[i]!) : p));
  const [row] = await t.sql.unsafe(`EXPLAIN (FORMAT JSON) ${statement.query}`, parameters as never[]);
  return (row!['QUERY PLAN'] as [{ Plan: PlanNode }])[0].Plan;
}

/**
 * The plan for any parameters: postgres.js prepares its statements, and after
 * five runs PostgreSQL may keep such a generic plan for good.
 */
async function genericPlan(statement: Captured): Promise<PlanNode> {
  const [row] = await t.sql.unsafe(`EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${statement.query}`);
  return (row!['QUERY PLAN'] as [{ Plan: PlanNode }])[0].Plan;
}

/**
 * Asserts the plan cuts the page from products through `index` only, in the
 * sort's direction, sorting nothing on the way: the only sort allowed is the
 * one above the Limit, which puts the page's own rows back in order after the
 * join to categories.
 */
function expectIndexOrderedPlan(plan: PlanNode, index: string, sort: ProductSort, page: string) {
  const nodes = nodesOf(plan);
  const shape = nodes.map(
    (n) =>
      `${n['Node Type']}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}${n['Index Name'] ? ` using ${n['Index Name']}` : ''}`,
  );
  const where = `plan: ${shape.join(' > ')}`;
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
