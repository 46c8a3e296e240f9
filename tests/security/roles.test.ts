/**
 * Least privilege in PostgreSQL: the role the API connects as reads and
 * writes rows, and the whole service works on it, but it can create, alter,
 * drop, truncate or index nothing, and only read and append to the stock
 * ledger. Built on a fresh database the way `./run.sh` builds one: owner role,
 * API role, migrations run by the owner, migration history protected.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { createApp } from '../../src/app.ts';
import { checkedApp } from '../support/contract.ts';
import { dbmate } from '../../src/cli/dbmate.ts';
import { API_ROLE, protectMigrationHistory, provisionApiRole } from '../../src/cli/provision.ts';
import { createPool, type Pool } from '../../src/db.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestDatabase, urlFor, withAdmin } from '../support/db.ts';

const suffix = `${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
const database = `roles_${suffix}`;
const owner = { user: `owner_${suffix}`, password: `owner-pw-${suffix}` };
const api = { user: `api_${suffix}`, password: `api-pw-'quoted'-${suffix}` };

function urlAs(role: { user: string; password: string }): string {
  const u = new URL(urlFor(database));
  u.username = encodeURIComponent(role.user);
  u.password = encodeURIComponent(role.password);
  return u.toString();
}

let apiUrl: string;
let apiPool: Pool;
let apiSql: postgres.Sql;

beforeAll(async () => {
  await withAdmin(async (admin) => {
    await admin`CREATE ROLE ${admin(owner.user)} LOGIN PASSWORD ${admin.unsafe(`'${owner.password}'`)}`;
    await admin`CREATE DATABASE ${admin(database)} OWNER ${admin(owner.user)}`;
  });
  apiUrl = await provisionApiRole(process.env.TEST_ADMIN_URL!, { database, ...owner }, api);
  await dbmate(urlAs(owner), ['up'], true);
  await protectMigrationHistory(urlAs(owner), api.user);
  apiPool = createPool({ databaseUrl: apiUrl, poolMax: 4 });
  apiSql = postgres(apiUrl, { max: 1, onnotice: () => {} });
});

afterAll(async () => {
  await apiPool?.end({ timeout: 1 });
  await apiSql?.end({ timeout: 1 });
  await withAdmin(async (admin) => {
    await admin`DROP DATABASE IF EXISTS ${admin(database)} WITH (FORCE)`;
    for (const role of [api.user, owner.user]) {
      const [exists] = await admin`SELECT 1 FROM pg_roles WHERE rolname = ${role}`;
      if (!exists) continue;
      await admin`DROP OWNED BY ${admin(role)}`;
      await admin`DROP ROLE ${admin(role)}`;
    }
  });
});

/** The SQLSTATE a statement fails with, or 'ok' when it succeeds. */
async function outcome(statement: string): Promise<string> {
  try {
    await apiSql.unsafe(statement);
    return 'ok';
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    return code === '42501' || /must be owner/.test(message) ? 'refused' : `${code}: ${message}`;
  }
}

describe('the API role', () => {
  test('connects as itself and holds no special attributes', async () => {
    expect(new URL(apiUrl).username).toBe(api.user);
    const [me] = await apiSql<{ current_user: string }[]>`SELECT current_user`;
    expect(me!.current_user).toBe(api.user);
    const [role] = await apiSql`
      SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolinherit
      FROM pg_roles WHERE rolname = current_user`;
    expect(role).toEqual(
      expect.objectContaining({
        rolsuper: false,
        rolcreaterole: false,
        rolcreatedb: false,
        rolreplication: false,
        rolbypassrls: false,
      }),
    );
    const [membership] =
      await apiSql`SELECT count(*)::int AS n FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = current_user`;
    expect(membership!.n).toBe(0);
  });

  test('reads and writes rows: SELECT, INSERT, UPDATE and DELETE work', async () => {
    const [category] = await apiSql<{ id: number }[]>`INSERT INTO categories (name) VALUES ('Role test') RETURNING id`;
    const [product] = await apiSql<{ id: number }[]>`
      INSERT INTO products (sku, name, price, category_id) VALUES ('ROLE-1', 'Role product', 2.5, ${category!.id})
      RETURNING id`;
    await apiSql`UPDATE products SET price = 3 WHERE id = ${product!.id}`;
    const [row] = await apiSql`SELECT price FROM products WHERE id = ${product!.id}`;
    expect(row!.price).toBe('3.00');
    await apiSql`DELETE FROM products WHERE id = ${product!.id}`;
    await apiSql`DELETE FROM categories WHERE id = ${category!.id}`;
    expect(await apiSql`SELECT 1 FROM products WHERE id = ${product!.id}`).toHaveLength(0);
  });

  test('reads and appends to the stock ledger: a quantity change with its movement works', async () => {
    const [category] = await apiSql<{ id: number }[]>`INSERT INTO categories (name) VALUES ('Role ledger') RETURNING id`;
    const [product] = await apiSql<{ id: number }[]>`
      WITH p AS (
        INSERT INTO products (sku, name, price, quantity, category_id) VALUES ('ROLE-2', 'Role stocked', 1, 3, ${category!.id})
        RETURNING id, quantity
      ), m AS (INSERT INTO stock_movements (product_id, delta, reason, quantity_after) SELECT id, quantity, 'initial', quantity FROM p)
      SELECT id FROM p`;
    await apiSql.begin(async (tx) => {
      await tx`UPDATE products SET quantity = quantity - 1 WHERE id = ${product!.id}`;
      await tx`INSERT INTO stock_movements (product_id, delta, reason, quantity_after) VALUES (${product!.id}, -1, 'sold', 2)`;
    });
    const movements =
      await apiSql`SELECT delta, quantity_after FROM stock_movements WHERE product_id = ${product!.id} ORDER BY id`;
    expect([...movements]).toEqual([
      { delta: 3, quantity_after: 3 },
      { delta: -1, quantity_after: 2 },
    ]);
  });

  test('the whole service runs on it: create, list, edit, adjust, archive, restore, idempotency, rate limit', async () => {
    const app = checkedApp(createApp({ sql: apiPool, config: { rateLimitMax: 1000 }, logger: createLogger('silent') }));
    const json = { 'content-type': 'application/json' };
    const created = await app.request('/products', {
      method: 'POST',
      headers: { ...json, 'idempotency-key': 'role-create-1' },
      body: JSON.stringify({ name: 'Served by the API role', price: 9.99, quantity: 4, category: 'Fresh category' }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: number };
    const listed = await app.request('/products');
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { id: number }[]).map((p) => p.id)).toContain(id);
    expect((await app.request(`/products/${id}`, { method: 'PATCH', headers: json, body: '{"price":"10.50"}' })).status).toBe(
      200,
    );
    const adjusted = await app.request(`/products/${id}/stock-adjustments`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ delta: -1, reason: 'sold' }),
    });
    expect(adjusted.status).toBe(201);
    expect((await app.request(`/products/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await app.request(`/products/${id}/restore`, { method: 'POST' })).status).toBe(200);
    expect((await app.request('/reports/inventory?low_stock_below=10')).status).toBe(200);
    const category = await app.request('/categories', { method: 'POST', headers: json, body: '{"name":"Short-lived"}' });
    expect(category.status).toBe(201);
    expect(
      (await app.request(`/categories/${((await category.json()) as { id: number }).id}`, { method: 'DELETE' })).status,
    ).toBe(204);
    expect((await app.request('/readyz')).status).toBe(200);
    const [counted] = await apiSql<{ n: number }[]>`SELECT count(*)::int AS n FROM rate_limit_counters`;
    expect(counted!.n).toBeGreaterThan(0);
  });

  test.each([
    ['CREATE TABLE', 'CREATE TABLE intruder (id int)'],
    ['CREATE SCHEMA', 'CREATE SCHEMA intruder'],
    ['ALTER TABLE', 'ALTER TABLE products ADD COLUMN intruder int'],
    ['ALTER TABLE owner', `ALTER TABLE products OWNER TO ${JSON.stringify(api.user)}`],
    ['DROP TABLE', 'DROP TABLE products'],
    ['DROP TABLE CASCADE', 'DROP TABLE categories CASCADE'],
    ['TRUNCATE', 'TRUNCATE products'],
    ['TRUNCATE CASCADE', 'TRUNCATE categories CASCADE'],
    ['UPDATE of a stock movement', "UPDATE stock_movements SET note = 'rewritten'"],
    ['DELETE of a stock movement', 'DELETE FROM stock_movements'],
    ['TRUNCATE of the stock ledger', 'TRUNCATE stock_movements'],
    ['writing the migration history', 'DELETE FROM schema_migrations'],
    ['CREATE INDEX', 'CREATE INDEX intruder_idx ON products (name)'],
    ['DROP INDEX', 'DROP INDEX products_sku_key'],
    ['DROP TRIGGER', 'DROP TRIGGER products_set_updated_at ON products'],
    ['DISABLE TRIGGER', 'ALTER TABLE products DISABLE TRIGGER products_set_updated_at'],
    ['CREATE FUNCTION', 'CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$'],
    [
      'CREATE OR REPLACE existing FUNCTION',
      'CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$',
    ],
    ['CREATE VIEW', 'CREATE VIEW intruder AS SELECT 1'],
    ['SET ROLE to the owner', `SET ROLE ${JSON.stringify(owner.user)}`],
    ['COPY TO PROGRAM', "COPY products TO PROGRAM 'true'"],
    ['reading server files', "SELECT pg_read_file('postgresql.conf')"],
  ])('%s is refused (42501 / must be owner)', async (_, statement) => {
    expect(await outcome(statement)).toBe('refused');
  });

  test('the refusals left the schema as the owner made it', async () => {
    const tables = await apiSql<{ tablename: string }[]>`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`;
    expect(tables.map((t) => t.tablename)).not.toContain('intruder');
    const [column] =
      await apiSql`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'products' AND column_name = 'intruder'`;
    expect(column!.n).toBe(0);
    const [owners] =
      await apiSql`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tableowner <> ${owner.user}`;
    expect(owners!.n).toBe(0);
  });

  test('the test suites run the service with exactly these privileges (tests/support/db.ts)', async () => {
    /** What the connected role may do on the schema and on each table and sequence. */
    const privileges = (sql: postgres.Sql<any>) => sql<{ object: string; may: string }[]>`
      SELECT 'schema public' AS object,
             concat_ws(',', CASE WHEN has_schema_privilege('public', 'USAGE') THEN 'USAGE' END,
                            CASE WHEN has_schema_privilege('public', 'CREATE') THEN 'CREATE' END) AS may
      UNION ALL
      SELECT c.relkind::text || ' ' || c.relname,
             array_to_string(ARRAY(
               SELECT p FROM unnest(CASE c.relkind WHEN 'S' THEN ARRAY['USAGE', 'SELECT', 'UPDATE']
                                    ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] END) p
               WHERE CASE c.relkind WHEN 'S' THEN has_sequence_privilege(c.oid, p) ELSE has_table_privilege(c.oid, p) END), ',')
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S')
      ORDER BY 1`;
    const clone = await createTestDatabase();
    try {
      const [me] = await clone.sql<{ current_user: string }[]>`SELECT current_user`;
      expect(me!.current_user).toBe(API_ROLE.user);
      const provisioned = [...(await privileges(apiSql))];
      expect(provisioned).toContainEqual({ object: 'r stock_movements', may: 'SELECT,INSERT' });
      expect([...(await privileges(clone.sql))]).toEqual(provisioned);
    } finally {
      await clone.drop();
    }
  });

  test('the owner may do what the API role may not (rolled back)', async () => {
    const ownerSql = postgres(urlAs(owner), { max: 1, onnotice: () => {} });
    let done = false;
    try {
      await ownerSql
        .begin(async (tx) => {
          await tx.unsafe('CREATE INDEX owner_can_idx ON products (name)');
          await tx.unsafe('ALTER TABLE products ADD COLUMN owner_can int');
          // The ledger's own triggers hold the owner too, until the owner deliberately turns one off.
          await tx.unsafe('ALTER TABLE stock_movements DISABLE TRIGGER stock_movements_no_truncate');
          await tx.unsafe('TRUNCATE stock_movements');
          done = true;
          throw new Error('rollback');
        })
        .catch((error: Error) => {
          if (error.message !== 'rollback') throw error;
        });
    } finally {
      await ownerSql.end({ timeout: 1 });
    }
    expect(done).toBe(true);
  });
});
