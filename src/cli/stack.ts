/**
 * What `./run.sh` runs: finds a PostgreSQL (DATABASE_URL, or the embedded
 * one under .data/), applies migrations and seeds, then serves the API.
 * Ctrl-C stops the API and the database it started.
 */
import { join } from 'node:path';
import { startServer } from '../server.ts';
import { dbmate, DEFAULT_DATABASE, loadSeeds, provisionDatabase, ROOT } from './database.ts';
import { startEmbeddedPostgres, type RunningPostgres } from './embedded-postgres.ts';

const say = (line: string) => process.stdout.write(`run.sh: ${line}\n`);

async function main() {
  let embedded: RunningPostgres | undefined;
  let url = process.env.DATABASE_URL;
  if (url) {
    say('using the PostgreSQL at DATABASE_URL');
  } else {
    const port = Number(process.env.PGPORT ?? 5432);
    say(`starting the embedded PostgreSQL (data in .data/postgres) on 127.0.0.1:${port}`);
    embedded = await startEmbeddedPostgres({ dir: join(ROOT, '.data/postgres'), port, persistent: true });
    url = await provisionDatabase(embedded.adminUrl);
  }

  try {
    await dbmate(url, ['--wait', 'up']);
    const seeds = await loadSeeds(url);
    say(`seeds loaded (${seeds.join(', ')}); existing rows are kept`);
  } catch (error) {
    await embedded?.stop();
    throw error;
  }

  const { server, shutdown } = await startServer({ ...process.env, DATABASE_URL: url });
  const base = `http://localhost:${server.port}`;
  say(`API       ${base}`);
  say(`explorer  ${base}/docs`);
  say(`OpenAPI   ${base}/openapi.json`);
  if (embedded) {
    const { user, password, database } = DEFAULT_DATABASE;
    say(`psql      psql postgresql://${user}:${password}@localhost:${embedded.port}/${database}`);
  }
  say('press Ctrl-C to stop');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    await shutdown(signal);
    await embedded?.stop();
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
