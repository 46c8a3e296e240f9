import postgres from 'postgres';
import { API_ROLE, protectMigrationHistory, provisionApiRole } from '../../src/cli/provision.ts';
import { createPool, type Pool } from '../../src/db.ts';

export type TestDatabase = {
  name: string;
  /** Connection URL of the test database as the API role, `inventory_api`, as the service connects in production (see `empty`). */
  url: string;
  /** Connection URL of the test database as the superuser of the test server, who owns every table. */
  adminUrl: string;
  /** A pool configured exactly like the service's, connected as the API role. */
  sql: Pool;
  /** The same, connected as the superuser: for fixtures that need more than the API role may do. */
  admin: Pool;
  drop: () => Promise<void>;
};

/** The API role, as production provisioning creates it (src/cli/provision.ts). */
export const TEST_API_ROLE = { user: API_ROLE.user, password: process.env.API_DB_PASSWORD ?? API_ROLE.password };

function adminUrl(): string {
  const url = process.env.TEST_ADMIN_URL;
  if (!url) throw new Error('TEST_ADMIN_URL is not set: run the tests with `bun test` (tests/support/preload.ts)');
  return url;
}

/** The superuser's URL for `database`. */
export function urlFor(database: string): string {
  const u = new URL(adminUrl());
  u.pathname = `/${database}`;
  return u.toString();
}

/** The API role's URL for `database`. */
export function apiUrlFor(database: string): string {
  const u = new URL(urlFor(database));
  u.username = encodeURIComponent(TEST_API_ROLE.user);
  u.password = encodeURIComponent(TEST_API_ROLE.password);
  return u.toString();
}

/**
 * Gives the API role on the migrated template exactly the privileges
 * production provisioning gives it; every clone inherits them (the role
 * itself is cluster-wide).
 */
export async function prepareTemplate(serverAdminUrl: string, template: string): Promise<void> {
  const owner = decodeURIComponent(new URL(serverAdminUrl).username);
  await provisionApiRole(serverAdminUrl, { database: template, user: owner, password: '' }, TEST_API_ROLE);
  const templateUrl = new URL(serverAdminUrl);
  templateUrl.pathname = `/${template}`;
  await protectMigrationHistory(templateUrl.toString(), TEST_API_ROLE.user);
}

/** Runs `fn` on a short-lived superuser connection to the test server's `postgres` database. */
export async function withAdmin<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} });
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/**
 * With TEST_POOLER_PORT set (tests/pgbouncer runs suites so), where the app of
 * createTestApp connects instead of `url`: the PgBouncer listening there on
 * 127.0.0.1, with DB_PREPARE as TEST_DB_PREPARE says (false when unset).
 */
export function throughPooler(url: string): { url: string; prepare: boolean } | undefined {
  const port = process.env.TEST_POOLER_PORT;
  if (!port) return undefined;
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = port;
  return { url: u.toString(), prepare: process.env.TEST_DB_PREPARE === 'true' };
}

/**
 * A fresh database with every migration applied (a clone of the suite's
 * template), where `url` and `sql` are the API role's. An `empty` one has no
 * schema and no grants for the API role: there `url` and `sql` are the
 * superuser's, like `adminUrl` and `admin`, for tests that build the schema.
 */
export async function createTestDatabase(options: { empty?: boolean; poolMax?: number } = {}): Promise<TestDatabase> {
  const name = `test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const template = options.empty ? 'template0' : process.env.TEST_TEMPLATE_DATABASE!;
  await withAdmin((admin) => admin`CREATE DATABASE ${admin(name)} TEMPLATE ${admin(template)}`);
  const ownerUrl = urlFor(name);
  const url = options.empty ? ownerUrl : apiUrlFor(name);
  const sql = createPool({ databaseUrl: url, poolMax: options.poolMax ?? 10 }, 'inventory-test');
  const admin = createPool({ databaseUrl: ownerUrl, poolMax: 2 }, 'inventory-test-admin');
  return {
    name,
    url,
    adminUrl: ownerUrl,
    sql,
    admin,
    drop: async () => {
      await Promise.all([sql.end({ timeout: 5 }), admin.end({ timeout: 5 })]);
      await withAdmin((a) => a`DROP DATABASE IF EXISTS ${a(name)} WITH (FORCE)`);
    },
  };
}
