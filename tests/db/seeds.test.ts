/**
 * The sample data in db/seeds: a realistic catalog that loads on a migrated
 * database, loads again without adding anything, and keeps the stock ledger
 * in balance.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { loadSeeds } from '../../src/cli/seeds.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let t: TestDatabase;
/** Row counts after the first load. */
let afterFirstLoad: Counts;

type Counts = { categories: number; products: number; movements: number; max_movement_id: number };

async function counts(): Promise<Counts> {
  const [row] = await t.sql<Counts[]>`
    SELECT (SELECT count(*)::int FROM categories) AS categories,
           (SELECT count(*)::int FROM products) AS products,
           (SELECT count(*)::int FROM stock_movements) AS movements,
           (SELECT coalesce(max(id), 0)::int FROM stock_movements) AS max_movement_id`;
  return row!;
}

/** Products whose quantity differs from the sum of their movements' deltas. */
async function unbalancedProducts() {
  return t.sql<{ sku: string; quantity: number; ledger: number }[]>`
    SELECT p.sku, p.quantity, coalesce(sum(m.delta), 0)::int AS ledger
    FROM products p LEFT JOIN stock_movements m ON m.product_id = p.id
    GROUP BY p.id HAVING p.quantity <> coalesce(sum(m.delta), 0)
    ORDER BY p.sku`;
}

beforeAll(async () => {
  t = await createTestDatabase();
  await loadSeeds(t.adminUrl);
  afterFirstLoad = await counts();
});

afterAll(async () => {
  await t?.drop();
});

describe('the seeds', () => {
  test('give at least 6 categories and at least 40 products', () => {
    expect(afterFirstLoad.categories).toBeGreaterThanOrEqual(6);
    expect(afterFirstLoad.products).toBeGreaterThanOrEqual(40);
  });

  test('put every product in an existing category', async () => {
    const [row] = await t.sql<{ orphans: number }[]>`
      SELECT count(*)::int AS orphans FROM products p
      WHERE NOT EXISTS (SELECT 1 FROM categories c WHERE c.id = p.category_id)`;
    expect(row!.orphans).toBe(0);
  });

  test('have realistic values: positive prices, non-empty names, SKUs and descriptions, active products', async () => {
    const bad = await t.sql<{ sku: string }[]>`
      SELECT sku FROM products
      WHERE price <= 0 OR quantity < 0 OR btrim(name) = '' OR btrim(sku) = ''
         OR description IS NULL OR btrim(description) = '' OR archived_at IS NOT NULL OR version <> 1
      ORDER BY sku`;
    expect([...bad]).toEqual([]);
    const [spread] = await t.sql<{ prices: number; in_stock: number; products: number }[]>`
      SELECT count(DISTINCT price)::int AS prices, count(*) FILTER (WHERE quantity > 0)::int AS in_stock,
             count(*)::int AS products FROM products`;
    // Enough distinct prices for the price sort to mean something, and stock to sell.
    expect(spread!.prices).toBeGreaterThan(spread!.products / 2);
    expect(spread!.in_stock).toBeGreaterThan(0);
  });

  test("keep each product's quantity equal to the sum of its movements: one initial movement per stocked product", async () => {
    expect([...(await unbalancedProducts())]).toEqual([]);
    const [row] = await t.sql<{ movements: number; stocked: number; all_initial: boolean }[]>`
      SELECT (SELECT count(*)::int FROM stock_movements) AS movements,
             (SELECT count(*)::int FROM products WHERE quantity > 0) AS stocked,
             (SELECT bool_and(m.reason = 'initial' AND m.delta = p.quantity AND m.quantity_after = p.quantity)
              FROM stock_movements m JOIN products p ON p.id = m.product_id) AS all_initial`;
    expect(row).toEqual({ movements: row!.stocked, stocked: row!.stocked, all_initial: true });
  });

  test('loaded a second time, add no rows and no stock movements', async () => {
    await loadSeeds(t.adminUrl);
    expect(await counts()).toEqual(afterFirstLoad);
    expect([...(await unbalancedProducts())]).toEqual([]);
  });

  // ./run.sh loads the seeds on every start, and DELETE /products/{id} archives:
  // a sample product someone removed must not come back on the next start.
  test('loaded again after a sample product was archived, do not bring it back', async () => {
    const [archived] = await t.sql<{ sku: string }[]>`
      UPDATE products SET archived_at = now()
      WHERE id = (SELECT min(id) FROM products WHERE archived_at IS NULL) RETURNING sku`;
    const before = await counts();
    await loadSeeds(t.adminUrl);
    const active = await t.sql<{ sku: string }[]>`
      SELECT sku FROM products WHERE lower(sku) = lower(${archived!.sku}) AND archived_at IS NULL`;
    expect([...active], `${archived!.sku} is active again after reloading the seeds`).toEqual([]);
    expect(await counts()).toEqual(before);
  });
});
