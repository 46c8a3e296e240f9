/**
 * The migrations on an empty database: they apply; over realistic data every
 * down works or refuses up front with a message saying why; rolled back to
 * zero, applying them again rebuilds exactly the same schema, into which the
 * seeds load exactly the same catalog.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readdirSync } from 'node:fs';
import { dbmate } from '../../src/cli/dbmate.ts';
import { MIGRATIONS_DIR } from '../../src/cli/paths.ts';
import { loadSeeds } from '../../src/cli/seeds.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { fingerprint, type Fingerprint } from './fingerprint.ts';

const MIGRATIONS = readdirSync(MIGRATIONS_DIR)
  .filter((f) => f.endsWith('.sql'))
  .sort();
const VERSIONS = MIGRATIONS.map((f) => f.split('_')[0]!);

let t: TestDatabase;
/** The schema and the seeded catalog after the first `dbmate up`. */
let firstSchema: Fingerprint;
let firstCatalog: SeededCatalog;
let firstUpOutput: string;

beforeAll(async () => {
  t = await createTestDatabase({ empty: true });
  firstUpOutput = await dbmate(t.adminUrl, ['up'], true);
  firstSchema = await fingerprint(t.admin);
  await loadSeeds(t.adminUrl);
  firstCatalog = await seededCatalog();
});

afterAll(async () => {
  await t?.drop();
});

type SeededCatalog = { categories: unknown[]; products: unknown[]; movements: unknown[] };

/** The seeded rows by their natural keys, without ids or timestamps. */
async function seededCatalog(): Promise<SeededCatalog> {
  return {
    categories: [...(await t.admin`SELECT name, description FROM categories ORDER BY name`)],
    products: [
      ...(await t.admin`
      SELECT p.sku, p.name, p.description, p.price, p.quantity, c.name AS category, p.archived_at, p.version
      FROM products p JOIN categories c ON c.id = p.category_id ORDER BY p.sku`),
    ],
    movements: [
      ...(await t.admin`
      SELECT p.sku, m.delta, m.reason, m.note, m.quantity_after
      FROM stock_movements m JOIN products p ON p.id = m.product_id ORDER BY p.sku, m.id`),
    ],
  };
}

/** dbmate's `status` as { version: applied }. */
async function status(): Promise<Record<string, boolean>> {
  const out = await dbmate(t.adminUrl, ['status'], true);
  const entries = [...out.matchAll(/^\[( |X)\] (\d+)_\S+\.sql$/gm)].map((m) => [m[2]!, m[1] === 'X'] as const);
  expect(entries.length, `dbmate status lists every migration:\n${out}`).toBe(MIGRATIONS.length);
  return Object.fromEntries(entries);
}

const allApplied = (applied: boolean) => Object.fromEntries(VERSIONS.map((v) => [v, applied]));

describe('dbmate up on an empty database', () => {
  test('applies every migration and builds the service tables', async () => {
    for (const file of MIGRATIONS) expect(firstUpOutput).toContain(`Applying: ${file}`);
    expect(await status()).toEqual(allApplied(true));
    expect(firstSchema.relations).toEqual(
      expect.arrayContaining([
        'rp categories',
        'rp idempotency_keys',
        'rp products',
        'rp schema_migrations',
        'rp stock_movements',
      ]),
    );
    expect(firstCatalog.products.length).toBeGreaterThan(0);
  });

  test('run a second time, applies nothing and changes nothing', async () => {
    const before = await fingerprint(t.admin);
    const out = await dbmate(t.adminUrl, ['up'], true);
    expect(out).not.toContain('Applying');
    expect(await fingerprint(t.admin)).toEqual(before);
    const versions = await t.admin<{ version: string }[]>`SELECT version FROM schema_migrations ORDER BY version`;
    expect(versions.map((v) => v.version)).toEqual(VERSIONS);
  });
});

/** The version of the migration whose file name contains `name`. */
const versionOf = (name: string) => MIGRATIONS.find((f) => f.includes(name))!.split('_')[0]!;

/**
 * What a database looks like after a while in service: the seeded catalog,
 * an archived product whose name and SKU an active one took since, stock
 * adjusted and sold, idempotency keys of two clients sharing a value and of a
 * service without API keys, and rate-limit rows.
 */
async function loadRealisticData() {
  const sql = t.admin;
  const [category] = await sql<{ id: number }[]>`SELECT min(id)::int AS id FROM categories`;
  await sql.begin(async (tx) => {
    const [old] = await tx<{ id: number }[]>`
      INSERT INTO products (sku, name, price, quantity, category_id) VALUES ('ROUND-TRIP-1', 'Round Trip Lamp', 5, 4, ${category!.id})
      RETURNING id`;
    await tx`INSERT INTO stock_movements (product_id, delta, reason, quantity_after) VALUES (${old!.id}, 4, 'initial', 4)`;
    await tx`UPDATE products SET archived_at = now() WHERE id = ${old!.id}`;
    const [active] = await tx<{ id: number }[]>`
      INSERT INTO products (sku, name, price, quantity, category_id) VALUES ('round-trip-1', 'round trip lamp', 6, 0, ${category!.id})
      RETURNING id`;
    // Received 10, sold 3, the service's way: quantity and movement in one statement.
    for (const [delta, reason] of [
      [10, 'received'],
      [-3, 'sold'],
    ] as const) {
      await tx`
        WITH p AS (UPDATE products SET quantity = quantity + ${delta} WHERE id = ${active!.id} RETURNING id, quantity)
        INSERT INTO stock_movements (product_id, delta, reason, quantity_after) SELECT id, ${delta}, ${reason}, quantity FROM p`;
    }
  });
  await sql`
    INSERT INTO idempotency_keys (client, method, path, key, request_hash, status, response_body, created_at)
    VALUES ('',      'POST', '/products', 'no-api-keys-1', 'h0', 201, '{}', now() - interval '3 minutes'),
           ('alice', 'POST', '/products', 'order-1', 'h1', 201, '{}', now() - interval '2 minutes'),
           ('bob',   'POST', '/products', 'order-1', 'h2', 201, '{}', now() - interval '1 minute'),
           ('bob',   'POST', '/products/1/stock-adjustments', 'order-2', 'h3', NULL, NULL, now())`;
  await sql`
    INSERT INTO rate_limit_counters (client, window_start, requests)
    VALUES ('key:abc', date_trunc('minute', now()), 7), ('addr:127.0.0.1', date_trunc('minute', now()), 2)`;
}

/** dbmate's error for a refused `down`, or fails when it was not refused. */
async function refusedDown(): Promise<string> {
  const error = await dbmate(t.adminUrl, ['down'], true).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(error, 'this down is refused').toBeInstanceOf(Error);
  return error!.message;
}

describe('rolling back every migration over realistic data, and applying them again', () => {
  test('each down works or refuses up front, saying why; resolved, the rollback goes on to zero', async () => {
    await loadRealisticData();
    const applied = async () => Object.values(await status()).filter(Boolean).length;
    const catalog = async () => [
      ...(await t.admin`
      SELECT (SELECT count(*)::int FROM products) AS products, (SELECT count(*)::int FROM categories) AS categories,
             (SELECT count(*)::int FROM stock_movements) AS movements`),
    ];

    // The newest first, down to the ledger and archive migration: each goes without loss
    // (the ledger's guards, text rules, per-client keys, rate limits).
    const before = await catalog();
    const ledger = versionOf('stock_ledger_archive_idempotency');
    for (const version of [...VERSIONS].reverse().filter((v) => v > ledger)) {
      await dbmate(t.adminUrl, ['down'], true);
      expect((await status())[version], `${version} rolled back`).toBe(false);
    }
    expect((await fingerprint(t.admin)).triggers).toEqual([
      'CREATE TRIGGER products_set_updated_at BEFORE UPDATE ON public.products FOR EACH ROW WHEN ((old.* IS DISTINCT FROM new.*)) EXECUTE FUNCTION set_updated_at()',
    ]);
    const keys = await t.admin<
      { key: string; request_hash: string }[]
    >`SELECT key, request_hash FROM idempotency_keys ORDER BY key`;
    expect([...keys]).toEqual([
      { key: 'no-api-keys-1', request_hash: 'h0' },
      { key: 'order-1', request_hash: 'h1' },
      { key: 'order-2', request_hash: 'h3' },
    ]);
    expect(await catalog()).toEqual(before);
    expect(await applied()).toBe(2);

    // Archive and stock history: refused, and nothing changed.
    expect(await refusedDown()).toContain(
      'cannot roll back 20261122000002_stock_ledger_archive_idempotency without loss: 1 archived products would become active again, ' +
        'and 1 products have stock history (2 movements) the earlier schema cannot keep',
    );
    expect(await applied()).toBe(2);
    expect(await catalog()).toEqual(before);
    // Resolved as the hint says (after an export, in real life).
    await t.admin`DELETE FROM stock_movements WHERE product_id IN (SELECT id FROM products WHERE lower(sku) = 'round-trip-1')`;
    await t.admin`DELETE FROM products WHERE archived_at IS NOT NULL`;
    await dbmate(t.adminUrl, ['down'], true);
    expect(await applied()).toBe(1);
    // The seeded products kept their quantities; their initial movements are written again by `up`.
    const [stocked] = await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM products WHERE quantity > 0`;
    expect(stocked!.n).toBeGreaterThan(0);

    // The catalog itself: refused while it holds rows.
    const [counts] = await t.admin<{ products: number; categories: number }[]>`
      SELECT (SELECT count(*)::int FROM products) AS products, (SELECT count(*)::int FROM categories) AS categories`;
    expect(await refusedDown()).toContain(
      `cannot roll back 20261122000001_create_catalog: it would drop ${counts!.products} products and ${counts!.categories} categories`,
    );
    expect(await applied()).toBe(1);
    await t.admin`DELETE FROM products`;
    await t.admin`DELETE FROM categories`;
    await dbmate(t.adminUrl, ['down'], true);

    expect(await status()).toEqual(allApplied(false));
    const left = await fingerprint(t.admin);
    // Only dbmate's own bookkeeping table (now empty) may remain.
    expect(left.relations).toEqual(['rp schema_migrations', 'ip schema_migrations_pkey']);
    expect(left.functions).toEqual([]);
    expect(left.triggers).toEqual([]);
    const [{ n }] = await t.admin<[{ n: number }]>`SELECT count(*)::int AS n FROM schema_migrations`;
    expect(n).toBe(0);
    const leftovers = await t.admin<{ name: string }[]>`
      SELECT typname AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = 'public' AND typname NOT IN ('schema_migrations', '_schema_migrations')`;
    expect([...leftovers]).toEqual([]);
  });

  test('up again rebuilds the same schema, and the seeds load the same catalog', async () => {
    await dbmate(t.adminUrl, ['up'], true);
    expect(await status()).toEqual(allApplied(true));
    expect(await fingerprint(t.admin)).toEqual(firstSchema);
    await loadSeeds(t.adminUrl);
    expect(await seededCatalog()).toEqual(firstCatalog);
  });

  test('a catalog of products with only their initial stock rolls back past the ledger without a refusal', async () => {
    while ((await status())[versionOf('stock_ledger_archive_idempotency')]) await dbmate(t.adminUrl, ['down'], true);
    expect(Object.values(await status()).filter(Boolean).length).toBe(1);
    await dbmate(t.adminUrl, ['up'], true);
    expect(await fingerprint(t.admin)).toEqual(firstSchema);
    expect(await seededCatalog()).toEqual({
      ...firstCatalog,
      // Written again from the quantities, by the ledger's migration.
      movements: firstCatalog.movements.map((m: any) => ({ ...m, note: 'stock before the ledger existed' })),
    });
  });
});

describe('the stock ledger migration over products written before it', () => {
  test('records one initial movement per stocked product, so every quantity is explained by the ledger', async () => {
    // Back to the first migration: products with quantities, and no ledger yet.
    while (Object.values(await status()).filter(Boolean).length > 1) await dbmate(t.adminUrl, ['down'], true);
    expect(await status()).toEqual({ ...allApplied(false), [VERSIONS[0]!]: true });
    await t.admin`
      INSERT INTO products (sku, name, price, quantity, category_id, created_at)
      SELECT v.sku, v.name, 1.00, v.quantity, (SELECT min(id) FROM categories), timestamptz '2025-05-05 05:05:05+00'
      FROM (VALUES ('OLD-EMPTY', 'Old Empty Product', 0), ('OLD-STOCKED', 'Old Stocked Product', 7)) v (sku, name, quantity)`;

    await dbmate(t.adminUrl, ['up'], true);

    type Movement = { delta: number; reason: string; quantity_after: number; dated_as_product: boolean };
    const products = await t.admin<{ sku: string; quantity: number; movements: Movement[] }[]>`
      SELECT p.sku, p.quantity,
             coalesce(json_agg(json_build_object('delta', m.delta, 'reason', m.reason, 'quantity_after', m.quantity_after,
                                                 'dated_as_product', m.created_at = p.created_at)
                               ORDER BY m.id) FILTER (WHERE m.id IS NOT NULL), '[]') AS movements
      FROM products p LEFT JOIN stock_movements m ON m.product_id = p.id
      GROUP BY p.id ORDER BY p.sku`;
    expect(products.map((p) => p.sku)).toEqual(expect.arrayContaining(['OLD-EMPTY', 'OLD-STOCKED']));
    for (const p of products) {
      const initial = { delta: p.quantity, reason: 'initial', quantity_after: p.quantity, dated_as_product: true };
      expect(p.movements, p.sku).toEqual(p.quantity > 0 ? [initial] : []);
    }
  });
});

describe('the per-client idempotency migration rolled back over keys two clients share', () => {
  test('keeps the first stored answer of a shared key value, and rolls back', async () => {
    await dbmate(t.adminUrl, ['up'], true);
    await t.admin`DELETE FROM idempotency_keys`;
    await t.admin`
      INSERT INTO idempotency_keys (client, method, path, key, request_hash, status, created_at)
      VALUES ('alice', 'POST', '/products', 'order-1', 'a', 201, now() - interval '2 minutes'),
             ('bob',   'POST', '/products', 'order-1', 'b', 201, now() - interval '1 minute'),
             ('bob',   'POST', '/products', 'order-2', 'c', 201, now())`;
    const version = versionOf('idempotency_keys_per_client');
    while ((await status())[version]) await dbmate(t.adminUrl, ['down'], true);
    const rows = await t.admin<{ key: string; request_hash: string }[]>`
      SELECT key, request_hash FROM idempotency_keys ORDER BY key`;
    expect([...rows]).toEqual([
      { key: 'order-1', request_hash: 'a' },
      { key: 'order-2', request_hash: 'c' },
    ]);
    await dbmate(t.adminUrl, ['up'], true);
    expect(await fingerprint(t.admin)).toEqual(firstSchema);
  });
});

// Last: it leaves stock at a second location, which no earlier migration's down can take.
describe('the stock locations migration over a catalog in service', () => {
  test('attributes every movement and quantity to the default location, and rolls back to the same data', async () => {
    const version = versionOf('stock_locations');
    await dbmate(t.adminUrl, ['up'], true);
    while ((await status())[version]) await dbmate(t.adminUrl, ['down'], true);
    await t.admin`DELETE FROM idempotency_keys`;
    await t.admin`DELETE FROM rate_limit_counters`;
    await loadRealisticData();
    const ledger = () => t.admin`
      SELECT p.sku, p.quantity, p.archived_at IS NOT NULL AS archived,
             coalesce(json_agg(json_build_array(m.id, m.delta, m.reason, m.quantity_after) ORDER BY m.id)
                      FILTER (WHERE m.id IS NOT NULL), '[]') AS movements
      FROM products p LEFT JOIN stock_movements m ON m.product_id = p.id
      GROUP BY p.id ORDER BY p.id`;
    const keys = () => t.admin`SELECT client, method, path, key, request_hash FROM idempotency_keys ORDER BY client, key`;
    const before = { ledger: [...(await ledger())], keys: [...(await keys())] };
    expect(before.ledger.some((p) => p.archived)).toBe(true);
    expect(before.ledger.some((p) => p.movements.length > 1)).toBe(true);

    await dbmate(t.adminUrl, ['up'], true);
    expect({ ledger: [...(await ledger())], keys: [...(await keys())] }).toEqual(before);
    // One level per product with a ledger, at the default location, holding its quantity.
    const levels = await t.admin<{ sku: string; code: string; on_hand: number; quantity: number }[]>`
      SELECT p.sku, l.code, s.on_hand, p.quantity
      FROM stock_levels s JOIN products p ON p.id = s.product_id JOIN locations l ON l.id = s.location_id ORDER BY p.id`;
    expect(levels.length).toBe(before.ledger.filter((p) => p.movements.length > 0).length);
    for (const level of levels) expect(level, level.sku).toEqual({ ...level, code: 'DEFAULT', on_hand: level.quantity });
    const [located] = await t.admin<{ n: number }[]>`
      SELECT count(*)::int AS n FROM stock_movements m JOIN locations l ON l.id = m.location_id WHERE NOT l.is_default`;
    expect(located!.n).toBe(0);

    // Down on that data (stock only at the default location) gives back the same rows.
    await dbmate(t.adminUrl, ['down'], true);
    while ((await status())[version]) await dbmate(t.adminUrl, ['down'], true);
    expect({ ledger: [...(await ledger())], keys: [...(await keys())] }).toEqual(before);

    // With stock at another location, down is refused and changes nothing.
    await dbmate(t.adminUrl, ['up'], true);
    const [stocked] = await t.admin<{ id: number }[]>`SELECT id FROM products WHERE archived_at IS NULL AND quantity > 0 LIMIT 1`;
    await t.admin`INSERT INTO locations (code, name) VALUES ('WH-2', 'Second warehouse')`;
    await t.admin`SELECT stock_transfer(${stocked!.id}, default_location(), (SELECT id FROM locations WHERE code = 'WH-2'), 1)`;
    // The migrations after it first (the level index, the reservation hint, ...): each goes without loss.
    for (const later of [...VERSIONS].reverse().filter((v) => v > version)) {
      await dbmate(t.adminUrl, ['down'], true);
      expect((await status())[later], `${later} rolled back`).toBe(false);
    }
    expect(await refusedDown()).toContain('cannot roll back 20261130000009_stock_locations without loss');
    expect((await status())[version]).toBe(true);
    await dbmate(t.adminUrl, ['up'], true);
  });
});
