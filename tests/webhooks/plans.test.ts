/**
 * What the deliverer asks of the events, every poll of every process, is read
 * from indexes, for any parameters (the plans the service's pools run):
 * whether a subscription has an event after its position, and its next
 * events, of every type (events_position_key) or of its types
 * (events_type_idx, even for a type that is rare among many others).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { claimDue, nextEvents } from '../../src/webhooks/queries.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { capturingPool, customPlan, genericPlan, nodesOf, type PlanNode, planShape } from '../support/plans.ts';

let db: TestDatabase;
let capture: ReturnType<typeof capturingPool>;

beforeAll(async () => {
  db = await createTestDatabase();
  // 30,000 published events of ten frequent types and three of a rare one; subscriptions to every type and to rare ones.
  await db.admin.begin(async (sql) => {
    await sql`SET LOCAL statement_timeout = 0`;
    await sql`
      INSERT INTO events (type, data)
      SELECT (ARRAY['stock.adjusted', 'stock.adjusted', 'stock.adjusted', 'stock.reserved', 'stock.released',
                    'product.updated', 'stock.transferred', 'stock.fulfilled', 'stock.low_stock', 'product.created'])[1 + g % 10],
             '{}'
      FROM generate_series(1, 30000) g`;
    await sql`INSERT INTO events (type, data) VALUES ('product.archived', '{}'), ('product.archived', '{}'), ('product.archived', '{}')`;
    await sql`SELECT events_publish(100000)`;
    await sql`
      INSERT INTO webhooks (url, secret, position, event_types)
      SELECT 'http://127.0.0.1:9/' || g, 'whsec_' || encode(sha256(g::text::bytea), 'base64'), 10,
             CASE WHEN g % 2 = 0 THEN '{}'::text[] ELSE '{product.archived,category.deleted}'::text[] END
      FROM generate_series(1, 100) g`;
    await sql`ANALYZE events`;
    await sql`ANALYZE webhooks`;
  });
  capture = capturingPool(db.url);
}, 60_000);

afterAll(async () => {
  await capture?.pool.end({ timeout: 1 });
  await db?.drop();
});

/** The scans of `events` in a plan: relation, index and node type. */
const eventScans = (plan: PlanNode) => nodesOf(plan).filter((n) => n['Relation Name'] === 'events');

function expectIndexed(plan: PlanNode, indexes: string[]) {
  const scans = eventScans(plan);
  expect(scans.length, planShape(plan)).toBeGreaterThan(0);
  for (const scan of scans) {
    expect(scan['Node Type'], planShape(plan)).toMatch(/^Index (Only )?Scan$/);
    expect(indexes, planShape(plan)).toContain(scan['Index Name'] ?? 'no index');
    // Started and ended by the index condition, not read through and filtered.
    expect(scan.Filter, planShape(plan)).toBeUndefined();
  }
  expect(new Set(scans.map((s) => s['Index Name']))).toEqual(new Set(indexes));
}

describe('plans', () => {
  test('the claim looks up the first event after each position in an index', async () => {
    const { result, statement } = await capture.capture(
      (sql) => claimDue(sql, { limit: 200, leaseMs: 1000, owner: 'plans' }),
      /FOR UPDATE OF w SKIP LOCKED/,
    );
    // Every subscription has an event after position 10: those to every type, and those to the rare type.
    expect(result).toHaveLength(100);
    expectIndexed(await genericPlan(capture.pool, statement), ['events_position_key', 'events_type_idx']);
  });

  test('the next events of every type come from events_position_key', async () => {
    const { result, statement } = await capture.capture(
      (sql) => nextEvents(sql, { after: 100, types: [], limit: 50 }),
      /FROM events/,
    );
    expect(result.map((e) => e.position)).toEqual(Array.from({ length: 50 }, (_, i) => 101 + i));
    expectIndexed(await genericPlan(capture.pool, statement), ['events_position_key']);
    expectIndexed(await customPlan(capture.pool, statement), ['events_position_key']);
  });

  test('the next events of some types come from events_type_idx, a rare type included', async () => {
    const { result, statement } = await capture.capture(
      (sql) => nextEvents(sql, { after: 29_900, types: ['product.archived', 'stock.released'], limit: 50 }),
      /FROM unnest/,
    );
    expect(result.filter((e) => e.type === 'product.archived')).toHaveLength(3);
    expect(result.map((e) => e.position)).toEqual([...result.map((e) => e.position)].sort((a, b) => a - b));
    expect(new Set(result.map((e) => e.type))).toEqual(new Set(['product.archived', 'stock.released']));
    expectIndexed(await genericPlan(capture.pool, statement), ['events_type_idx']);
    expectIndexed(await customPlan(capture.pool, statement), ['events_type_idx']);
  });
});
