import postgres from 'postgres';
import { resolveBinary } from 'dbmate';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dir, '../..');
export const MIGRATIONS_DIR = join(ROOT, 'db/migrations');
export const SEEDS_DIR = join(ROOT, 'db/seeds');

export type DatabaseSpec = { database: string; user: string; password: string };

/** The credentials the service has always promised for psql at localhost:5432. */
export const DEFAULT_DATABASE: DatabaseSpec = {
  database: 'inventory_db',
  user: 'inventory_user',
  password: 'inventory_pass',
};

/** The port of the embedded PostgreSQL `./run.sh` starts: PGPORT, or 5432. */
export function embeddedPort(env: Record<string, string | undefined> = process.env): string {
  return env.PGPORT ?? '5432';
}

/** The URL of DEFAULT_DATABASE on the embedded PostgreSQL at `host`:`port`. */
export function embeddedDatabaseUrl(port: number | string, { host = '127.0.0.1', scheme = 'postgres' } = {}): string {
  const { user, password, database } = DEFAULT_DATABASE;
  return `${scheme}://${user}:${password}@${host}:${port}/${database}`;
}

/** The database the commands use: DATABASE_URL, or the embedded database `./run.sh` serves. */
export function databaseUrl(env: Record<string, string | undefined> = process.env): string {
  return env.DATABASE_URL ?? embeddedDatabaseUrl(embeddedPort(env));
}

function withDatabase(url: string, database: string, user?: string, password?: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  if (user) u.username = encodeURIComponent(user);
  if (password) u.password = encodeURIComponent(password);
  return u.toString();
}

/**
 * Makes sure the login role and its database exist (as a superuser), and
 * returns the connection URL for that role. Safe to run on every start.
 */
export async function provisionDatabase(adminUrl: string, spec: DatabaseSpec = DEFAULT_DATABASE): Promise<string> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [role] = await admin`SELECT 1 FROM pg_roles WHERE rolname = ${spec.user}`;
    if (!role) await admin`CREATE ROLE ${admin(spec.user)} LOGIN PASSWORD ${admin.unsafe(quoteLiteral(spec.password))}`;
    const [db] = await admin`SELECT 1 FROM pg_database WHERE datname = ${spec.database}`;
    if (!db) await admin`CREATE DATABASE ${admin(spec.database)} OWNER ${admin(spec.user)} ENCODING 'UTF8'`;
  } finally {
    await admin.end();
  }
  return withDatabase(adminUrl, spec.database, spec.user, spec.password);
}

/**
 * The role the API connects as: it reads and writes rows (stock movements it
 * may only read and insert), and can create, alter or drop nothing.
 */
export const API_ROLE = { user: 'inventory_api', password: 'inventory_api_pass' };

/**
 * Makes sure the API's least-privilege role exists and may use every table
 * the owner creates, now and in future migrations. Returns its connection URL.
 */
export async function provisionApiRole(
  adminUrl: string,
  spec: DatabaseSpec = DEFAULT_DATABASE,
  api = { user: API_ROLE.user, password: process.env.API_DB_PASSWORD ?? API_ROLE.password },
): Promise<string> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [role] = await admin`SELECT 1 FROM pg_roles WHERE rolname = ${api.user}`;
    if (!role) await admin`CREATE ROLE ${admin(api.user)} LOGIN PASSWORD ${admin.unsafe(quoteLiteral(api.password))}`;
    await admin`GRANT CONNECT ON DATABASE ${admin(spec.database)} TO ${admin(api.user)}`;
  } finally {
    await admin.end();
  }
  const db = postgres(withDatabase(adminUrl, spec.database), { max: 1, onnotice: () => {} });
  try {
    const owner = db(spec.user);
    const apiRole = db(api.user);
    await db`GRANT USAGE ON SCHEMA public TO ${apiRole}`;
    await db`REVOKE CREATE ON SCHEMA public FROM PUBLIC`;
    await db`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${apiRole}`;
    await db`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${apiRole}`;
    await db`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${apiRole}`;
    await db`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${apiRole}`;
    // The stock ledger is append-only (its triggers refuse the rest, for every role).
    const [ledger] = await db`SELECT to_regclass('public.stock_movements') IS NOT NULL AS exists`;
    if (ledger!.exists) await db`REVOKE UPDATE, DELETE, TRUNCATE ON stock_movements FROM ${apiRole}`;
  } finally {
    await db.end();
  }
  return withDatabase(adminUrl, spec.database, api.user, api.password);
}

/** The API role may read dbmate's applied versions but not change them. */
export async function protectMigrationHistory(ownerUrl: string, apiUser = API_ROLE.user): Promise<void> {
  const sql = postgres(ownerUrl, { max: 1, onnotice: () => {} });
  try {
    const [role] = await sql`SELECT 1 FROM pg_roles WHERE rolname = ${apiUser}`;
    if (role) await sql`REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM ${sql(apiUser)}`;
  } finally {
    await sql.end();
  }
}

/** A SQL string literal; CREATE ROLE takes no bind parameters. */
function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Runs dbmate on the project's migrations: `up`, `down`, `status`, `rollback`, ... */
export async function dbmate(databaseUrl: string, args: string[], quiet = false): Promise<string> {
  const url = withLoopbackSslDisabled(databaseUrl);
  const proc = Bun.spawn(
    [resolveBinary(), '--url', url, '--migrations-dir', MIGRATIONS_DIR, '--no-dump-schema', ...args],
    { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, DATABASE_URL: url } },
  );
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`dbmate ${args.join(' ')} failed (${code}): ${err || out}`);
  if (!quiet && out.trim()) process.stdout.write(out);
  return out;
}

/** dbmate's driver insists on TLS unless told otherwise; a loopback server needs none. */
function withLoopbackSslDisabled(url: string): string {
  const u = new URL(url);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  if (loopback && !u.searchParams.has('sslmode')) u.searchParams.set('sslmode', 'disable');
  return u.toString();
}

/** Loads every db/seeds/*.sql file in name order, each in its own transaction. */
export async function loadSeeds(url: string, dir = SEEDS_DIR): Promise<string[]> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    for (const file of files) {
      await sql.begin((tx) => tx.file(join(dir, file)).simple());
    }
  } finally {
    await sql.end();
  }
  return files;
}
