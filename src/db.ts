import postgres from 'postgres';
import { forWrites } from './cli/database-url.ts';
import type { Config } from './config.ts';

/** The pool. */
export type Pool = postgres.Sql;
/** Where a query runs: the pool or an open transaction. Query functions take this first. */
export type Sql = Pool | postgres.TransactionSql;

const TIMESTAMPTZ = 1184;
/** A transaction left open this long (a stuck client) is ended by the server, freeing its locks. */
export const IDLE_IN_TRANSACTION_MS = 60_000;
const INT8 = 20;

/**
 * "2026-01-31 12:00:00.12+00" (a timestamptz as a UTC, ISO-style session sends
 * it) as the API writes timestamps, "2026-01-31T12:00:00.12Z": RFC 3339 in UTC
 * with the microseconds kept (a JS Date would drop them and break keyset
 * cursors); listings build the same text in SQL.
 */
export function rfc3339(text: string): string {
  return `${text.slice(0, 10)}T${text.slice(11, -3)}Z`;
}

/**
 * Settings the pool sends at connection start-up with DB_PREPARE (as text: postgres.js
 * leaves out a parameter whose value is 0, and 0 must override the role's default).
 */
function sessionSettings(statementTimeoutMs: number): Record<string, string> {
  return {
    // Plan each prepared statement once per connection: re-planning a listing (eight
    // candidate indexes) cost more than running it. The listings' generic plans are
    // index scans too (tests/db/explain.test.ts checks both).
    plan_cache_mode: 'force_generic_plan',
    // A stuck statement is cancelled by the server and answered with 503 (0: none, for import and export).
    statement_timeout: String(statementTimeoutMs),
    idle_in_transaction_session_timeout: String(IDLE_IN_TRANSACTION_MS),
  };
}

/**
 * Opens the service's one connection pool. Sessions run in UTC. A URL may list
 * several hosts (a primary and its standbys, `host1:5432,host2:5432`): the pool
 * then connects only to the one that takes writes (target_session_attrs=read-write
 * unless the URL says otherwise), trying each host in turn, each for at most the
 * connect timeout; when none does, the query fails at once (503) instead of waiting.
 */
export function createPool(
  config: Pick<Config, 'databaseUrl' | 'poolMax'> &
    Partial<Pick<Config, 'statementTimeoutMs' | 'connectTimeoutMs' | 'dbPrepare'>>,
  appName = 'inventory-api',
): Pool {
  const prepare = config.dbPrepare ?? true;
  return postgres(forWrites(config.databaseUrl), {
    max: config.poolMax,
    idle_timeout: 60,
    // A database that does not answer fails the request quickly instead of hanging it.
    connect_timeout: (config.connectTimeoutMs ?? 2000) / 1000,
    // Reconnect soon after a lost connection: the driver's default backoff grows to
    // 20 s, during which requests would wait instead of being answered 503.
    backoff: () => 0.25,
    onnotice: () => {},
    // Behind a pooler in transaction mode (DB_PREPARE=false) consecutive statements may run
    // on different server connections: a named statement would be missing on the next one.
    prepare,
    connection: {
      TimeZone: 'UTC',
      DateStyle: 'ISO',
      application_name: appName,
      // PgBouncer passes on only the parameters above (and client_encoding) and refuses a
      // connection that sends any other; behind it the role's defaults set these
      // (provisioning: src/cli/provision.ts), and with unnamed statements there is no plan to cache.
      ...(prepare && sessionSettings(config.statementTimeoutMs ?? 5000)),
    },
    types: {
      rfc3339: {
        to: TIMESTAMPTZ,
        from: [TIMESTAMPTZ],
        serialize: (value: string | Date) => (value instanceof Date ? value.toISOString() : value),
        parse: rfc3339,
      },
      // Row ids and counts are int8; they stay far below 2^53, so a JSON number is exact.
      int8: {
        to: INT8,
        from: [INT8],
        serialize: (value: number | string) => String(value),
        parse: (text: string) => Number(text),
      },
    },
  }) as unknown as Pool;
}

/**
 * Runs `fn` in a transaction: a new one on the pool, or a savepoint when `sql`
 * is already a transaction (an idempotent request runs inside one).
 */
export function transaction<T>(sql: Sql, fn: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  if ('begin' in sql) return sql.begin(fn) as Promise<T>;
  return sql.savepoint(fn) as Promise<T>;
}
