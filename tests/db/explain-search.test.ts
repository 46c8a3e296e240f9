/**
 * Every search the service runs finds its products through an index, never by
 * reading the products table: on a catalog of 100,000 analysed products with
 * names of common words, the SKU and word searches read the trigram and
 * full-text indexes (a bitmap of their matches; only those are ranked), and a
 * SKU prefix is a range of the SKU-order index, read in order (no Sort below
 * the Limit). Both as planned for the captured parameters and as the generic
 * plan the service's pools use. The statements are the service's own,
 * captured as sent (tests/support/plans.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { normalizeSearchText, skuPrefixRange, skuSearchText } from '../../src/products/model.ts';
import { listProductsBySkuPrefix, searchProducts, type ProductSearch, type SkuPrefixFilter } from '../../src/products/queries.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { capturingPool, customPlan, genericPlan, nodesOf, type PlanNode, planShape } from '../support/plans.ts';

const PRODUCTS = 100_000;
const CATEGORIES = 50;
const PAGE = 20;

const ADJECTIVES = [
  'Wireless',
  'Optical',
  'Ergonomic',
  'Compact',
  'Portable',
  'Rugged',
  'Stainless',
  'Organic',
  'Premium',
  'Classic',
];
const NOUNS = ['Mouse', 'Keyboard', 'Headphones', 'Lamp', 'Kettle', 'Backpack', 'Jacket', 'Charger', 'Speaker', 'Blender'];
const COLOURS = ['Black', 'White', 'Café', 'Crème', 'Oak', 'Navy'];

let t: TestDatabase;
let capturing: ReturnType<typeof capturingPool>;

beforeAll(async () => {
  t = await createTestDatabase();
  await t.sql`
    INSERT INTO categories (name)
    SELECT format('Category %s', lpad(c::text, 2, '0')) FROM generate_series(1, ${CATEGORIES}) c`;
  // Names of two adjectives, a noun and a colour (each word in a tenth of the
  // names or more), SKUs like MOU-WI-0001234; one product in ten archived.
  // One statement, longer than the service's statement timeout allows.
  await t.admin.begin(async (sql) => {
    await sql`SET LOCAL statement_timeout = 0`;
    await sql`
    WITH words AS (SELECT ${ADJECTIVES}::text[] AS a, ${NOUNS}::text[] AS n, ${COLOURS}::text[] AS c),
    g AS (
      SELECT i, w.a[1 + i % 10] AS a1, w.a[1 + (i / 10) % 10] AS a2, w.n[1 + (i / 100) % 10] AS noun, w.c[1 + i % 6] AS colour
      FROM generate_series(1, ${PRODUCTS}) i, words w
    ), p AS (
      INSERT INTO products (sku, name, description, price, quantity, category_id, archived_at)
      SELECT upper(left(noun, 3)) || '-' || upper(left(a1, 2)) || '-' || lpad(i::text, 7, '0'),
             format('%s %s %s, %s M%s', a1, a2, noun, colour, i),
             format('A %s %s in %s. Item %s.', lower(a2), lower(noun), lower(colour), i),
             (i % 5000) / 100.0, i % 50, 1 + i % ${CATEGORIES},
             CASE WHEN i % 10 = 0 THEN now() END
      FROM g
      RETURNING id, quantity
    )
    INSERT INTO stock_movements (product_id, delta, reason, quantity_after)
    SELECT id, quantity, 'initial', quantity FROM p WHERE quantity > 0`;
  });
  // ANALYZE needs the owner; on a busy machine it may take longer than the statement timeout.
  await t.admin.begin(async (sql) => {
    await sql`SET LOCAL statement_timeout = 0`;
    await sql`ANALYZE products, categories, search_words`;
  });
  capturing = capturingPool(t.url);
}, 180_000);

afterAll(async () => {
  await capturing?.pool.end({ timeout: 5 });
  await t?.drop();
});

/** The products scans of a plan; none may be a sequential scan, and the search indexes must be among them. */
function expectIndexedSearch(plan: PlanNode, indexes: string[]) {
  const where = `plan: ${planShape(plan)}`;
  const nodes = nodesOf(plan);
  const scans = nodes.filter((n) => n['Relation Name'] === 'products' || n['Index Name']?.startsWith('products_'));
  expect(
    scans.filter((n) => n['Relation Name'] === 'products' && !/^(Bitmap Heap|Index|Index Only) Scan$/.test(n['Node Type'])),
    where,
  ).toEqual([]);
  const used = scans.map((n) => n['Index Name']).filter(Boolean);
  for (const index of indexes) expect(used, where).toContain(index);
  // The products are read once, from the bitmap of the index matches.
  expect(nodes.filter((n) => n['Relation Name'] === 'products').length, where).toBe(1);
}

/**
 * Asserts the plan reads products only as a range of `index` (the prefix bounds it). Across all
 * products the range is read in order, with no Sort below the Limit. Within a category the planner
 * may instead take the category's matching rows from a bitmap of the same index and sort that
 * handful (its estimate decides, from the sampled statistics): both read only the prefix's rows.
 */
function expectSkuRange(plan: PlanNode, index: string, ordered: boolean) {
  const where = `plan: ${planShape(plan)}`;
  const nodes = nodesOf(plan);
  const limit = nodes.find((n) => n['Node Type'] === 'Limit');
  expect(limit, where).toBeDefined();
  const scans = nodes.filter((n) => n['Relation Name'] === 'products');
  expect(scans.length, where).toBe(1);
  const [scan] = scans;
  if (ordered || scan!['Node Type'] === 'Index Scan') {
    const cut = nodesOf(limit!);
    expect(
      cut.filter((n) => /Sort$/.test(n['Node Type'])),
      where,
    ).toEqual([]);
    expect(`${scan!['Node Type']} using ${scan!['Index Name']}`, where).toBe(`Index Scan using ${index}`);
    // The prefix bounds the scan: it starts and stops in the index.
    expect(scan!['Index Cond'], where).toContain('>=');
    expect(scan!['Index Cond'], where).toContain('<');
  } else {
    expect(scan!['Node Type'], where).toBe('Bitmap Heap Scan');
    const bitmap = nodesOf(scan!).filter((n) => n['Node Type'] === 'Bitmap Index Scan');
    expect(
      bitmap.map((n) => n['Index Name']),
      where,
    ).toEqual([index]);
    expect(bitmap[0]!['Index Cond'], where).toContain('>=');
    expect(bitmap[0]!['Index Cond'], where).toContain('<');
  }
}

const searchOf = (text: string, more: Partial<ProductSearch> = {}): ProductSearch => {
  const normalized = normalizeSearchText(text);
  return { text: normalized, sku: skuSearchText(normalized), archived: false, limit: PAGE, ...more };
};

/** A text that could be part of a SKU is looked for in SKUs too. */
const BOTH = ['products_search_idx', 'products_sku_trigram_idx'];

/** Each search, the indexes its plans must read, and the fewest rows it finds (0: at least one). */
const SEARCHES: { name: string; search: ProductSearch; indexes: string[]; rows: number }[] = [
  { name: 'two words of the name', search: searchOf('optical mouse'), indexes: ['products_search_idx'], rows: PAGE + 1 },
  { name: 'a misspelled word', search: searchOf('kettel'), indexes: ['products_search_idx'], rows: PAGE + 1 },
  { name: 'words with accents', search: searchOf('cafe jacket'), indexes: ['products_search_idx'], rows: PAGE + 1 },
  { name: 'a SKU prefix', search: searchOf('MOU-OP'), indexes: [...BOTH], rows: PAGE + 1 },
  { name: 'a SKU infix', search: searchOf('OP-00123'), indexes: [...BOTH], rows: 0 },
  { name: 'an exact SKU', search: searchOf('MOU-OP-0000001'), indexes: [...BOTH], rows: 1 },
  {
    name: 'within a category',
    search: searchOf('stainless mouse', { category: 'category 17' }),
    indexes: ['products_search_idx'],
    rows: PAGE + 1,
  },
  {
    name: 'among archived products',
    search: searchOf('wireless mouse', { archived: true }),
    indexes: ['products_search_idx'],
    rows: PAGE + 1,
  },
];

describe('searches find their products through the indexes', () => {
  test.each(SEARCHES)('$name', async ({ search, indexes, rows }) => {
    let { result, statement } = await capturing.capture((sql) => searchProducts(sql, search), /\bFROM products\b/);
    if (rows) expect(result.length).toBeGreaterThanOrEqual(rows);
    else expect(result.length).toBeGreaterThan(0);
    if (result.length > PAGE) {
      // The page after a cursor too.
      const last = result[PAGE - 1]!;
      ({ statement } = await capturing.capture(
        (sql) => searchProducts(sql, { ...search, after: { key: String(last.rank), id: last.id } }),
        /\bFROM products\b/,
      ));
    }
    expectIndexedSearch(await customPlan(t.sql, statement), indexes);
    expectIndexedSearch(await genericPlan(t.sql, statement), indexes);
  });
});

const PREFIXES: { name: string; filter: SkuPrefixFilter; index: string }[] = [
  {
    name: 'all products',
    filter: { ...skuPrefixRange('MOU-OP'), archived: false, limit: PAGE },
    index: 'products_sku_order_idx',
  },
  {
    name: 'a one-letter prefix',
    filter: { ...skuPrefixRange('k'), archived: false, limit: PAGE },
    index: 'products_sku_order_idx',
  },
  {
    name: 'within a category',
    filter: { ...skuPrefixRange('MOU'), category: 'Category 07', archived: false, limit: PAGE },
    index: 'products_category_sku_order_idx',
  },
];

describe('SKU prefixes are a range of the SKU-order index, read in order', () => {
  test.each(PREFIXES)('$name, first page and the page after a cursor', async ({ filter, index }) => {
    const first = await capturing.capture((sql) => listProductsBySkuPrefix(sql, filter), /\bFROM products\b/);
    expect(first.result.length).toBe(PAGE + 1);
    const last = first.result[PAGE - 1]!;
    const next = await capturing.capture(
      (sql) => listProductsBySkuPrefix(sql, { ...filter, after: { key: last.sku.toLowerCase(), id: last.id } }),
      /\bFROM products\b/,
    );
    // Archived products have no SKU-order index (they are few, and their SKUs may repeat): not checked here.
    for (const { statement } of [first, next]) {
      const ordered = filter.category === undefined;
      expectSkuRange(await customPlan(t.sql, statement), index, ordered);
      expectSkuRange(await genericPlan(t.sql, statement), index, ordered);
    }
  });
});

test('archived products with a SKU prefix are read through the archived-products index, not by scanning', async () => {
  const filter: SkuPrefixFilter = { ...skuPrefixRange('MOU'), archived: true, limit: PAGE };
  const { result, statement } = await capturing.capture((sql) => listProductsBySkuPrefix(sql, filter), /\bFROM products\b/);
  expect(result.length).toBe(PAGE + 1);
  expectIndexedSearch(await customPlan(t.sql, statement), ['products_archived_idx']);
  expectIndexedSearch(await genericPlan(t.sql, statement), ['products_archived_idx']);
});
