/**
 * Roles, database and grants, made as a superuser: the owner role and its
 * database, the API's least-privilege role, and the migration history it may
 * only read. Safe to run on every start.
 */
import postgres from 'postgres';
import { IDLE_IN_TRANSACTION_MS } from '../db.ts';
import { DEFAULT_DATABASE, type DatabaseSpec } from './database.ts';
import { withDatabase, writableUrl } from './database-url.ts';

/**
 * Makes sure the login role and its database exist (as a superuser), and
 * returns the connection URL for that role. Safe to run on every start.
 */
export async function provisionDatabase(adminUrl: string, spec: DatabaseSpec = DEFAULT_DATABASE): Promise<string> {
  const admin = postgres(await writableUrl(adminUrl), { max: 1, onnotice: () => {} });
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
 *
 * The role's own defaults are the API's session timeouts: the pool sends them
 * when it connects, except through PgBouncer in transaction mode (DB_PREPARE=false),
 * which refuses such start-up parameters; there these defaults are what applies.
 */
export async function provisionApiRole(
  adminUrl: string,
  spec: DatabaseSpec = DEFAULT_DATABASE,
  api = { user: API_ROLE.user, password: process.env.API_DB_PASSWORD ?? API_ROLE.password },
  timeouts: { statementTimeoutMs?: number } = {},
): Promise<string> {
  const admin = postgres(await writableUrl(adminUrl), { max: 1, onnotice: () => {} });
  try {
    const [role] = await admin`SELECT 1 FROM pg_roles WHERE rolname = ${api.user}`;
    if (!role) await admin`CREATE ROLE ${admin(api.user)} LOGIN PASSWORD ${admin.unsafe(quoteLiteral(api.password))}`;
    await admin`GRANT CONNECT ON DATABASE ${admin(spec.database)} TO ${admin(api.user)}`;
    // ALTER ROLE ... SET takes no bind parameters: the values are whole numbers of milliseconds.
    const statementTimeout = Math.trunc(timeouts.statementTimeoutMs ?? 5000);
    await admin`ALTER ROLE ${admin(api.user)} SET statement_timeout = ${admin.unsafe(String(statementTimeout))}`;
    await admin`ALTER ROLE ${admin(api.user)} SET idle_in_transaction_session_timeout = ${admin.unsafe(String(IDLE_IN_TRANSACTION_MS))}`;
  } finally {
    await admin.end();
  }
  const db = postgres(await writableUrl(withDatabase(adminUrl, spec.database)), { max: 1, onnotice: () => {} });
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
  const sql = postgres(await writableUrl(ownerUrl), { max: 1, onnotice: () => {} });
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
