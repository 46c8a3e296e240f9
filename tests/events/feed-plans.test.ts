/**
 * Each filter of the feed reads its own index in position order, on a feed of
 * realistic size and mix: the whole feed events_position_key, a product's
 * events events_product_idx, each type's events events_type_idx (at most a
 * page per type), a rare type's too. No plan scans the events table whole. The statements are those
 * readFeed sends (captured), planned as the service's pools plan them
 * (generic plans) and for the captured parameters.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFeed, type FeedFilter } from '../../src/events/queries.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { capturingPool, customPlan, genericPlan, nodesOf, planShape, type PlanNode } from '../support/plans.ts';

const EVENTS = 60_000;

let db: TestDatabase;
let capturing: ReturnType<typeof capturingPool>;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.sql.begin(async (tx) => {
    await tx`SET LOCAL statement_timeout = 0`;
    // 500 products; types as skewed as in service: mostly adjustments, few crossings, a rare low stock, and
    // categories (no product).
    await tx`
      INSERT INTO events (type, product_id, data)
      SELECT CASE WHEN i % 1000 = 0 THEN 'stock.low_stock' WHEN i % 50 = 0 THEN 'stock.out_of_stock'
                  WHEN i % 97 = 0 THEN 'category.created' WHEN i % 7 = 0 THEN 'product.updated'
                  WHEN i % 5 = 0 THEN 'stock.reserved' ELSE 'stock.adjusted' END,
             CASE WHEN i % 97 = 0 AND i % 50 <> 0 AND i % 1000 <> 0 THEN NULL ELSE 1 + i % 500 END,
             '{}'
      FROM generate_series(1, ${EVENTS}::int) i`;
    await tx`SELECT events_publish(${EVENTS}::int)`;
  });
  await db.admin`ANALYZE events`;
  capturing = capturingPool(db.url);
}, 60_000);

afterAll(async () => {
  await capturing?.pool.end({ timeout: 5 });
  await db?.drop();
});

/** The plans of the statement readFeed sends for `filter`: generic, then for its parameters. */
async function plansOf(filter: FeedFilter): Promise<PlanNode[]> {
  const { statement } = await capturing.capture((sql) => readFeed(sql, filter), /FROM event_publisher/);
  return [await genericPlan(db.admin, statement), await customPlan(db.admin, statement)];
}

const indexesOf = (plan: PlanNode) => new Set(nodesOf(plan).flatMap((n) => (n['Index Name'] ? [n['Index Name']] : [])));
const scansWhole = (plan: PlanNode) =>
  nodesOf(plan).some((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'events');

describe('feed plans', () => {
  const middle = EVENTS / 2;
  const cases: [string, FeedFilter, string][] = [
    ['the whole feed', { after: middle, limit: 100 }, 'events_position_key'],
    ['one product', { after: middle, product: 42, limit: 100 }, 'events_product_idx'],
    [
      'one product, two types',
      { after: middle, product: 42, types: ['stock.adjusted', 'stock.reserved'], limit: 100 },
      'events_product_idx',
    ],
    ['a rare type from the start', { after: 0, types: ['stock.low_stock'], limit: 100 }, 'events_type_idx'],
    ['a common type', { after: middle, types: ['stock.adjusted'], limit: 100 }, 'events_type_idx'],
    [
      'three types',
      { after: middle, types: ['stock.out_of_stock', 'stock.adjusted', 'stock.low_stock'], limit: 1000 },
      'events_type_idx',
    ],
  ];
  for (const [name, filter, index] of cases) {
    test(`${name}: ${index}, never the whole table`, async () => {
      for (const plan of await plansOf(filter)) {
        expect({ name, shape: planShape(plan), index: indexesOf(plan).has(index) }).toEqual({
          name,
          shape: planShape(plan),
          index: true,
        });
        expect({ name, shape: planShape(plan), whole: scansWhole(plan) }).toEqual({ name, shape: planShape(plan), whole: false });
      }
    }, 30_000);
  }
});
