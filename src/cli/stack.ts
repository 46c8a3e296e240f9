/**
 * What `./run.sh` runs: finds a PostgreSQL, applies migrations and seeds as
 * the owner role, then serves the API as the least-privilege role.
 *   DATABASE_URL        use this server as it is (MIGRATION_DATABASE_URL for migrations, if different)
 *   DATABASE_ADMIN_URL  a superuser URL: create the roles and database there (docker-compose)
 *   neither             the embedded PostgreSQL under .data/ (INVENTORY_DATA_DIR), on 127.0.0.1:${PGPORT:-5432}
 * Ctrl-C stops the API and the database it started.
 *
 * A fatal error during start-up (invalid configuration, a port taken, PostgreSQL
 * that cannot start, a failing migration or seed, anything unexpected) ends the
 * run with one line naming the cause and what to do, exit code 1, after
 * stopping everything started so far.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { basename, join } from 'node:path';
import { ConfigError, loadConfig } from '../config.ts';
import { PortInUseError, startServer } from '../server.ts';
import { databaseUrl, embeddedDatabaseUrl, embeddedPort } from './database.ts';
import { DatabaseUrlError, NoPrimaryError, parseDatabaseUrl } from './database-url.ts';
import { dbmate } from './dbmate.ts';
import {
  EmbeddedPostgresError,
  postgresCanReachPath,
  RUNTIME_DIR,
  startEmbeddedPostgres,
  stopAllEmbeddedPostgres,
} from './embedded-postgres.ts';
import { ROOT } from './paths.ts';
import { protectMigrationHistory, provisionApiRole, provisionDatabase } from './provision.ts';
import { loadSeeds } from './seeds.ts';

const say = (line: string) => process.stdout.write(`run.sh: ${line}\n`);

/** A start-up failure whose message is already the one line to show. */
class StartupError extends Error {}

let stopDatabase = async () => {};
let shutdownApi: ((signal: string) => Promise<void>) | undefined;
let serving = false;
let ending = false;

/** Stops what was started (the API, then the database) and exits; the first call wins. */
async function end(code: number, line?: string, signal = 'exit'): Promise<never> {
  if (!ending) {
    ending = true;
    if (line) process.stderr.write(`run.sh: ${line}\n`);
    await shutdownApi?.(signal).catch(() => {});
    await stopDatabase().catch(() => {});
    await stopAllEmbeddedPostgres().catch(() => {});
    if (code === 0) say('stopped');
    process.exit(code);
  }
  return new Promise<never>(() => {});
}

/** One line for any error: the cause and what to do. */
function describe(error: unknown): string {
  if (error instanceof ConfigError) {
    const [head, ...issues] = error.message
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    return `${head} ${issues.join('; ')} (fix the environment; see Configuration in README.md)`;
  }
  if (error instanceof StartupError || error instanceof EmbeddedPostgresError || error instanceof PortInUseError) {
    return error.message;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `start-up failed: ${firstLine(message)}`;
}

const firstLine = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean) ?? text;

/** The error dbmate reported, without its banner. */
function dbmateError(message: string): string {
  const lines = message
    .replace(/^dbmate .*? failed \(\d+\):\s*/, '')
    .split('\n')
    .map((l) => l.trim());
  return (lines.find((l) => l.startsWith('Error:')) ?? lines.find(Boolean) ?? message).replace(/^Error:\s*/, '');
}

function addressIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.unref();
    server.once('error', () => done(false));
    server.listen({ port, host }, () => server.close(() => done(true)));
  });
}

/** The embedded PostgreSQL's data directory: INVENTORY_DATA_DIR, .data/ in the checkout, or RUNTIME_DIR when the checkout is private. */
async function dataDirectory(): Promise<string> {
  if (process.env.INVENTORY_DATA_DIR) return join(process.env.INVENTORY_DATA_DIR, 'postgres');
  const inCheckout = join(ROOT, '.data', 'postgres');
  if (await postgresCanReachPath(join(ROOT, '.data'))) return inCheckout;
  // The postgres user cannot enter the checkout (e.g. under /root): one directory per checkout, outside it.
  const id = createHash('sha256').update(ROOT).digest('hex').slice(0, 8);
  return join(RUNTIME_DIR, `${basename(ROOT)}-${id}`, 'postgres');
}

async function main() {
  // Validate the settings before starting anything.
  const config = loadConfig({ ...process.env, DATABASE_URL: databaseUrl(process.env) });
  if (config.port !== 0 && !(await addressIsFree(config.host, config.port))) throw new PortInUseError(config.host, config.port);

  let psqlPort: number | undefined;
  let ownerUrl: string;
  let apiUrl: string;
  for (const name of ['DATABASE_URL', 'MIGRATION_DATABASE_URL', 'DATABASE_ADMIN_URL']) {
    const value = process.env[name];
    try {
      if (value) parseDatabaseUrl(value);
    } catch (error) {
      if (error instanceof DatabaseUrlError) throw new StartupError(`${name} is not valid: ${error.message}`);
      throw error;
    }
  }
  if (process.env.DATABASE_URL) {
    say('using the PostgreSQL at DATABASE_URL');
    apiUrl = process.env.DATABASE_URL;
    ownerUrl = process.env.MIGRATION_DATABASE_URL ?? apiUrl;
  } else {
    let adminUrl = process.env.DATABASE_ADMIN_URL;
    if (!adminUrl) {
      const port = Number(embeddedPort(process.env));
      const dir = await dataDirectory();
      say(`starting the embedded PostgreSQL (data in ${dir}) on 127.0.0.1:${port}`);
      const pg = await startEmbeddedPostgres({ dir, port, persistent: true });
      adminUrl = pg.adminUrl;
      psqlPort = port;
      stopDatabase = pg.stop;
    }
    ownerUrl = await provisionDatabase(adminUrl);
    apiUrl = await provisionApiRole(adminUrl, undefined, undefined, { statementTimeoutMs: config.statementTimeoutMs });
  }

  try {
    await dbmate(ownerUrl, ['--wait', '--wait-timeout', '15s', 'up']);
  } catch (error) {
    if (error instanceof NoPrimaryError) {
      throw new StartupError(
        `cannot reach a primary for migrations: ${error.message}; check that one runs and DATABASE_URL (MIGRATION_DATABASE_URL)`,
      );
    }
    const reason = dbmateError((error as Error).message);
    if (/unable to connect to database/.test(reason)) {
      throw new StartupError(
        `cannot reach the database for migrations: ${reason}; check that it runs and DATABASE_URL (MIGRATION_DATABASE_URL)`,
      );
    }
    throw new StartupError(`a migration failed: ${reason}; fix the migration (db/migrations) or the database, then run again`);
  }
  await protectMigrationHistory(ownerUrl);
  let seeds: string[];
  try {
    seeds = await loadSeeds(ownerUrl);
  } catch (error) {
    throw new StartupError(
      `loading the seeds (db/seeds) failed: ${firstLine((error as Error).message)}; fix the seed files or the database, then run again`,
    );
  }
  say(`seeds loaded (${seeds.join(', ')}); existing rows are kept`);

  const { server, shutdown } = await startServer({ ...process.env, DATABASE_URL: apiUrl });
  shutdownApi = shutdown;
  serving = true;
  const base = `http://localhost:${server.port}`;
  say(`API       ${base}`);
  say(`explorer  ${base}/docs`);
  say(`OpenAPI   ${base}/openapi.json`);
  if (psqlPort) say(`psql      psql ${embeddedDatabaseUrl(psqlPort, { host: 'localhost', scheme: 'postgresql' })}`);
  say('press Ctrl-C to stop');
}

// During start-up, an error nobody caught (in a child-process callback too)
// ends the run like any other start-up error, stopping what had started.
const fatal = (error: unknown) => void end(1, describe(error));
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(
    signal,
    () =>
      void (serving
        ? end(0, undefined, signal)
        : end(130, `interrupted (${signal}) during start-up; stopped what had started`, signal)),
  );
}

await main().catch((error) => end(1, describe(error)));
process.off('uncaughtException', fatal);
process.off('unhandledRejection', fatal);
