import postgres from 'postgres';
import { createPool, type Pool } from '../../src/db.ts';

export type TestDatabase = {
  name: string;
  /** Connection URL of the test database, as the superuser of the test server. */
  url: string;
  /** A pool configured exactly like the service's. */
  sql: Pool;
  drop: () => Promise<void>;
};

function adminUrl(): string {
  const url = process.env.TEST_ADMIN_URL;
  if (!url) throw new Error('TEST_ADMIN_URL is not set: run the tests with `bun test` (tests/support/preload.ts)');
  return url;
}

export function urlFor(database: string): string {
  const u = new URL(adminUrl());
  u.pathname = `/${database}`;
  return u.toString();
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

/** A fresh database with every migration applied (a clone of the suite's template). */
export async function createTestDatabase(options: { empty?: boolean; poolMax?: number } = {}): Promise<TestDatabase> {
  const name = `test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const template = options.empty ? 'template0' : process.env.TEST_TEMPLATE_DATABASE!;
  await withAdmin((admin) => admin`CREATE DATABASE ${admin(name)} TEMPLATE ${admin(template)}`);
  const url = urlFor(name);
  const sql = createPool({ databaseUrl: url, poolMax: options.poolMax ?? 10 }, 'inventory-test');
  return {
    name,
    url,
    sql,
    drop: async () => {
      await sql.end({ timeout: 5 });
      await withAdmin((admin) => admin`DROP DATABASE IF EXISTS ${admin(name)} WITH (FORCE)`);
    },
  };
}
