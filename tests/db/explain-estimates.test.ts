/**
 * A listing keeps its index-ordered plan even when the planner's row estimate
 * is far off: a cursor at the lowest created_at of the statistics, with thousands
 * of rows sharing that instant (one bulk load), is estimated at about one row.
 * With a join to categories such an estimate once turned the page into a hash
 * join and a sort of every matching row.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createPool } from '../../src/db.ts';
import { listProducts } from '../../src/products/queries.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await t.sql`INSERT INTO categories (name) SELECT 'Bulk ' || i FROM generate_series(1, 50) i`;
  // One statement, one now(): every row gets the same created_at. 20,000 rows with their search
  // words: on a busy machine longer than the service's statement timeout.
  await t.sql.begin(async (tx) => {
    await tx`SET LOCAL statement_timeout = 0`;
    await tx`
      INSERT INTO products (sku, name, price, category_id)
      SELECT 'BULK-' || i, 'Bulk product ' || i, 1, (SELECT min(id) FROM categories) + i % 50
      FROM generate_series(1, 20000) i`;
  });
  await t.admin`ANALYZE`; // the owner's: the API role's ANALYZE skips the tables it does not own
  // Products created after the statistics were taken.
  await t.sql`
    INSERT INTO products (sku, name, price, category_id)
    SELECT 'LATER-' || i, 'Later product ' || i, 1, (SELECT min(id) FROM categories) + i % 50
    FROM generate_series(1, 200) i`;
});
afterAll(async () => {
  await t?.drop();
});

test('a -created_at page after a cursor at the oldest instant is an index scan, not a sort', async () => {
  const [bounds] = await t.sql<{ created_at: string; max: number }[]>`
    SELECT min(created_at) AS created_at, (max(id) FILTER (WHERE sku LIKE 'BULK-%'))::int - 100 AS max FROM products`;
  const { created_at: oldest, max } = bounds!;
  // Capture the statement the service sends and EXPLAIN exactly that, with its values.
  const sent: { query: string; parameters: unknown[] }[] = [];
  const pool = createPool({ databaseUrl: t.url, poolMax: 1 });
  pool.options.debug = (_c: number, query: string, parameters: unknown[]) => {
    sent.push({ query, parameters: [...parameters] });
  };
  try {
    const rows = await listProducts(pool, { archived: false, sort: '-created_at', limit: 50, after: { key: oldest, id: max } });
    expect(rows.length).toBe(51);
  } finally {
    await pool.end();
  }
  const statement = sent.find((s) => s.query.includes('FROM products'))!;
  const [explained] = await t.sql.unsafe(`EXPLAIN (FORMAT JSON) ${statement.query}`, statement.parameters as never[]);
  type Node = { 'Node Type': string; 'Index Name'?: string; Plans?: Node[] };
  const nodesOf = (n: Node): Node[] => [n, ...(n.Plans ?? []).flatMap(nodesOf)];
  const limit = nodesOf((explained!['QUERY PLAN'] as [{ Plan: Node }])[0].Plan).find((n) => n['Node Type'] === 'Limit')!;
  // Below the Limit: the index, read in order; no sort of the matching rows.
  expect(nodesOf(limit).map((n) => n['Node Type'])).not.toContain('Sort');
  expect(nodesOf(limit).map((n) => n['Index Name'])).toContain('products_created_at_idx');
});
