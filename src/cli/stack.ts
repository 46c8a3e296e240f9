/**
 * What `./run.sh` runs: finds a PostgreSQL, applies migrations and seeds as
 * the owner role, then serves the API as the least-privilege role.
 *   DATABASE_URL        use this server as it is (MIGRATION_DATABASE_URL for migrations, if different)
 *   DATABASE_ADMIN_URL  a superuser URL: create the roles and database there (docker-compose)
 *   neither             the embedded PostgreSQL under .data/ (INVENTORY_DATA_DIR), on 127.0.0.1:${PGPORT:-5432}
 * Ctrl-C stops the API and the database it started.
 */
import { join } from 'node:path';
import { startServer } from '../server.ts';
import { dbmate, DEFAULT_DATABASE, loadSeeds, protectMigrationHistory, provisionApiRole, provisionDatabase, ROOT } from './database.ts';

const say = (line: string) => process.stdout.write(`run.sh: ${line}\n`);

async function main() {
  let stopDatabase = async () => {};
  let psqlPort: number | undefined;
  let ownerUrl: string;
  let apiUrl: string;
  if (process.env.DATABASE_URL) {
    say('using the PostgreSQL at DATABASE_URL');
    apiUrl = process.env.DATABASE_URL;
    ownerUrl = process.env.MIGRATION_DATABASE_URL ?? apiUrl;
  } else {
    let adminUrl = process.env.DATABASE_ADMIN_URL;
    if (!adminUrl) {
      const port = Number(process.env.PGPORT ?? 5432);
      const dir = join(process.env.INVENTORY_DATA_DIR ?? join(ROOT, '.data'), 'postgres');
      say(`starting the embedded PostgreSQL (data in ${dir}) on 127.0.0.1:${port}`);
      const { startEmbeddedPostgres } = await import('./embedded-postgres.ts');
      const pg = await startEmbeddedPostgres({ dir, port, persistent: true });
      adminUrl = pg.adminUrl;
      psqlPort = port;
      stopDatabase = pg.stop;
    }
    ownerUrl = await provisionDatabase(adminUrl);
    apiUrl = await provisionApiRole(adminUrl);
  }

  try {
    await dbmate(ownerUrl, ['--wait', 'up']);
    await protectMigrationHistory(ownerUrl);
    const seeds = await loadSeeds(ownerUrl);
    say(`seeds loaded (${seeds.join(', ')}); existing rows are kept`);
  } catch (error) {
    await stopDatabase();
    throw error;
  }

  const { server, shutdown } = await startServer({ ...process.env, DATABASE_URL: apiUrl });
  const base = `http://localhost:${server.port}`;
  say(`API       ${base}`);
  say(`explorer  ${base}/docs`);
  say(`OpenAPI   ${base}/openapi.json`);
  if (psqlPort) {
    const { user, password, database } = DEFAULT_DATABASE;
    say(`psql      psql postgresql://${user}:${password}@localhost:${psqlPort}/${database}`);
  }
  say('press Ctrl-C to stop');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    await shutdown(signal);
    await stopDatabase();
    say('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

await main().catch((error) => {
  process.stderr.write(`run.sh: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
