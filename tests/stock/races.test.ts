/**
 * Reservations, sales, transfers and batches of adjustments racing on the same
 * levels for 10 seconds, each through the database's stock functions (the
 * API's own path) on connections of their own. While they run, no level ever
 * shows more reserved than on hand (available below zero); afterwards every
 * level's on hand is the sum of its movements, every product's quantity the
 * sum of its levels, and once the last reservation has expired nothing is
 * reserved any more.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import postgres from 'postgres';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

const SECONDS = 10;
const PRODUCTS = 3;
const WORKERS = 8;

let t: TestDatabase;
const products: number[] = [];
let locations: number[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  await t.sql`INSERT INTO categories (name) VALUES ('Races')`;
  await t.sql`INSERT INTO locations (code, name) VALUES ('RACE-A', 'Race A'), ('RACE-B', 'Race B')`;
  locations = (await t.sql<{ id: number }[]>`SELECT id FROM locations ORDER BY id`).map((l) => l.id);
  for (let i = 0; i < PRODUCTS; i++) {
    const [p] = await t.sql<{ id: number }[]>`
      INSERT INTO products (sku, name, price, category_id) VALUES (${`RACE-${i}`}, ${`Race ${i}`}, 1, (SELECT id FROM categories))
      RETURNING id`;
    products.push(p!.id);
    for (const location of locations) await t.sql`SELECT stock_adjust(${p!.id}, ${location}, 5, 'received')`;
  }
});

afterAll(async () => {
  await t?.drop();
});

/** Refusals the functions decide (not enough, not open) and a deadlock, which must never happen. */
const EXPECTED_REFUSALS = new Set(['IV003', 'IV006']);

test(
  `reservations, sales, transfers and batches racing for ${SECONDS} s keep every level in the ledger`,
  async () => {
    const until = Date.now() + SECONDS * 1000;
    const counts: Record<string, number> = {};
    const unexpected: string[] = [];
    const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!;
    const count = (what: string) => {
      counts[what] = (counts[what] ?? 0) + 1;
    };
    const run = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
        count(what);
      } catch (error) {
        const code = (error as postgres.PostgresError).code;
        if (EXPECTED_REFUSALS.has(code)) count(`${what} refused`);
        else unexpected.push(`${what}: ${code} ${(error as Error).message}`);
      }
    };

    const worker = async () => {
      const sql = postgres(t.url, { max: 1, onnotice: () => {} });
      try {
        while (Date.now() < until) {
          const product = pick(products);
          const location = pick(locations);
          const other = pick(locations.filter((l) => l !== location));
          switch (Math.floor(Math.random() * 6)) {
            case 0:
              await run(
                'reserve',
                () => sql`SELECT stock_reserve(${product}, ${location}, ${1 + Math.floor(Math.random() * 3)},
                                                                 now() + ${`${100 + Math.floor(Math.random() * 1500)} milliseconds`}::interval)`,
              );
              break;
            case 1:
              await run(
                'sale',
                () => sql`SELECT stock_adjust(${product}, ${location}, ${-1 - Math.floor(Math.random() * 4)}, 'sold')`,
              );
              break;
            case 2:
              await run(
                'receipt',
                () => sql`SELECT stock_adjust(${product}, ${location}, ${1 + Math.floor(Math.random() * 2)}, 'received')`,
              );
              break;
            case 3:
              await run(
                'transfer',
                () => sql`SELECT stock_transfer(${product}, ${location}, ${other}, ${1 + Math.floor(Math.random() * 3)})`,
              );
              break;
            case 4: {
              // A batch: several changes in one transaction, in (product, location) order.
              const items = Array.from(
                { length: 3 },
                () => [pick(products), pick(locations), Math.random() < 0.5 ? -1 : 2] as const,
              ).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
              await run('batch', () =>
                sql.begin(async (tx) => {
                  for (const [p, l, d] of items) await tx`SELECT stock_adjust(${p}, ${l}, ${d}, ${d < 0 ? 'sold' : 'received'})`;
                }),
              );
              break;
            }
            default: {
              // Fulfil or release one of the open reservations.
              const [r] = await sql<{ id: number }[]>`
                SELECT id FROM reservations WHERE state = 'open' AND expires_at > now() ORDER BY random() LIMIT 1`;
              if (!r) break;
              if (Math.random() < 0.5) await run('fulfil', () => sql`SELECT stock_fulfil(${r.id})`);
              else await run('release', () => sql`SELECT stock_release(${r.id})`);
            }
          }
        }
      } finally {
        await sql.end();
      }
    };

    // Stock is scarce (5 a level to start, sales of up to 4, receipts of up to 2): refusals happen.
    // Meanwhile: no level ever has more reserved than on hand.
    const overdrawn: unknown[] = [];
    const watch = async () => {
      const sql = postgres(t.url, { max: 1, onnotice: () => {} });
      try {
        while (Date.now() < until) {
          const rows = await sql`
            SELECT product_id, location_id, on_hand, stock_reserved(product_id, location_id) AS reserved
            FROM stock_levels WHERE on_hand < stock_reserved(product_id, location_id)`;
          overdrawn.push(...rows);
          await Bun.sleep(50);
        }
      } finally {
        await sql.end();
      }
    };

    await Promise.all([...Array.from({ length: WORKERS }, worker), watch()]);

    expect(unexpected).toEqual([]);
    expect(overdrawn).toEqual([]);
    for (const what of ['reserve', 'sale', 'transfer', 'batch', 'fulfil', 'release']) {
      expect(counts[what] ?? 0, `${what} succeeded at least once: ${JSON.stringify(counts)}`).toBeGreaterThan(0);
    }
    expect((counts['sale refused'] ?? 0) + (counts['reserve refused'] ?? 0), JSON.stringify(counts)).toBeGreaterThan(0);

    // Every level is the sum of its movements; every product the sum of its levels.
    const levels = await t.sql`
      SELECT l.product_id, l.location_id, l.on_hand,
             (SELECT coalesce(sum(m.delta), 0)::int FROM stock_movements m
              WHERE m.product_id = l.product_id AND m.location_id = l.location_id) AS ledger
      FROM stock_levels l WHERE l.product_id = ANY(${products})`;
    for (const level of levels) expect(level.on_hand, JSON.stringify(level)).toBe(level.ledger);
    const totals = await t.sql`
      SELECT p.id, p.quantity, (SELECT sum(on_hand)::int FROM stock_levels l WHERE l.product_id = p.id) AS levels
      FROM products p WHERE p.id = ANY(${products})`;
    for (const total of totals) expect(total.quantity, JSON.stringify(total)).toBe(total.levels);

    // Once every reservation has expired, none counts, and all the stock is available to a sale.
    const [last] = await t.sql<{ at: Date | null }[]>`SELECT max(expires_at) AS at FROM reservations WHERE state = 'open'`;
    if (last?.at) await Bun.sleep(Math.max(0, new Date(last.at).getTime() - Date.now() + 50));
    const [reserved] = await t.sql<{ n: number }[]>`
      SELECT coalesce(sum(stock_reserved(product_id, location_id)), 0)::int AS n FROM stock_levels`;
    expect(reserved!.n).toBe(0);
    const [level] = await t.sql<{ product_id: number; location_id: number; on_hand: number }[]>`
      SELECT product_id, location_id, on_hand FROM stock_levels WHERE on_hand > 0 ORDER BY on_hand DESC LIMIT 1`;
    if (level) await t.sql`SELECT stock_adjust(${level.product_id}, ${level.location_id}, ${-level.on_hand}, 'sold')`;
  },
  (SECONDS + 20) * 1000,
);
