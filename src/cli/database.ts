/**
 * The service's database: its name and owner role (DEFAULT_DATABASE), and the
 * URL the commands connect to when DATABASE_URL is not set, that of the
 * embedded PostgreSQL `./run.sh` starts.
 */
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
