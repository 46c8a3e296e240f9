/**
 * The migrations on an empty database: they apply, they roll back completely,
 * and applying them again rebuilds exactly the same schema, into which the
 * seeds load exactly the same catalog.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readdirSync } from 'node:fs';
import { dbmate, loadSeeds, MIGRATIONS_DIR } from '../../src/cli/database.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { fingerprint, type Fingerprint } from './fingerprint.ts';

const MIGRATIONS = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).sort();
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
    categories: [...await t.admin`SELECT name, description FROM categories ORDER BY name`],
    products: [...await t.admin`
      SELECT p.sku, p.name, p.description, p.price, p.quantity, c.name AS category, p.archived_at, p.version
      FROM products p JOIN categories c ON c.id = p.category_id ORDER BY p.sku`],
    movements: [...await t.admin`
      SELECT p.sku, m.delta, m.reason, m.note, m.quantity_after
      FROM stock_movements m JOIN products p ON p.id = m.product_id ORDER BY p.sku, m.id`],
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
    expect(firstSchema.relations).toEqual(expect.arrayContaining([
      'rp categories', 'rp idempotency_keys', 'rp products', 'rp schema_migrations', 'rp stock_movements',
    ]));
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

describe('rolling back every migration and applying them again', () => {
  test('down, repeated until nothing is applied, leaves none of the service\'s objects', async () => {
    for (let remaining = MIGRATIONS.length; remaining > 0; remaining--) {
      await dbmate(t.adminUrl, ['down'], true);
      const applied = Object.values(await status()).filter(Boolean).length;
      expect(applied, 'one migration fewer after each down').toBe(remaining - 1);
    }
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
    const version = MIGRATIONS.find((f) => f.includes('idempotency_keys_per_client'))!.split('_')[0]!;
    while ((await status())[version]) await dbmate(t.adminUrl, ['down'], true);
    const rows = await t.admin<{ key: string; request_hash: string }[]>`
      SELECT key, request_hash FROM idempotency_keys ORDER BY key`;
    expect([...rows]).toEqual([{ key: 'order-1', request_hash: 'a' }, { key: 'order-2', request_hash: 'c' }]);
    await dbmate(t.adminUrl, ['up'], true);
    expect(await fingerprint(t.admin)).toEqual(firstSchema);
  });
});
