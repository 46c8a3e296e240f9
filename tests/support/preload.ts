/**
 * Runs once before the test files: finds a PostgreSQL for the suite and
 * migrates a template database that each test file clones (tests/support/db.ts).
 * TEST_DATABASE_URL names a server to use (a superuser or CREATEDB role);
 * otherwise a throwaway embedded PostgreSQL starts on a free port and is
 * removed afterwards. The database `./run.sh` serves is never touched.
 */
import { afterAll } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { dbmate } from '../../src/cli/dbmate.ts';
import { freePort, startEmbeddedPostgres, stopAllEmbeddedPostgres } from '../../src/cli/embedded-postgres.ts';
import { prepareTemplate } from './db.ts';

let adminUrl = process.env.TEST_DATABASE_URL;
let stopEmbedded: (() => Promise<void>) | undefined;

/** Ends the run with one line: nothing can be tested without a database. */
async function fatal(line: string): Promise<never> {
  process.stderr.write(`bun test: ${line}\n`);
  await stopEmbedded?.().catch(() => {});
  await stopAllEmbeddedPostgres();
  process.exit(1);
}

const firstLine = (error: unknown) =>
  (error instanceof Error ? error.message : String(error))
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean) ?? String(error);

// bun test does not hand uncaught errors to process handlers, and a preload that
// never settles leaves the run waiting forever: bound the whole set-up instead.
const SETUP_LIMIT_S = 120;
const limit = setTimeout(
  () =>
    void fatal(
      `setting up the test database did not finish within ${SETUP_LIMIT_S} s (or set TEST_DATABASE_URL to use a server)`,
    ),
  SETUP_LIMIT_S * 1000,
);

if (!adminUrl) {
  const dir = mkdtempSync(join(tmpdir(), 'inventory-test-pg-'));
  try {
    const pg = await startEmbeddedPostgres({ dir, port: await freePort(), persistent: false });
    adminUrl = pg.adminUrl;
    stopEmbedded = async () => {
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    await fatal(`the throwaway PostgreSQL did not start: ${firstLine(error)} (or set TEST_DATABASE_URL to use a server)`);
  }
}

const template = `inventory_template_${process.pid}`;
const admin = postgres(adminUrl!, { max: 1, onnotice: () => {} });
try {
  await admin`DROP DATABASE IF EXISTS ${admin(template)}`;
  await admin`CREATE DATABASE ${admin(template)}`;
  const templateUrl = new URL(adminUrl!);
  templateUrl.pathname = `/${template}`;
  await dbmate(templateUrl.toString(), ['up'], true);
  await prepareTemplate(adminUrl!, template);
} catch (error) {
  await admin.end({ timeout: 1 });
  await fatal(`could not prepare the template database on ${new URL(adminUrl!).host}: ${firstLine(error)}`);
}

clearTimeout(limit);
process.env.TEST_ADMIN_URL = adminUrl;
process.env.TEST_TEMPLATE_DATABASE = template;

afterAll(async () => {
  await admin`DROP DATABASE IF EXISTS ${admin(template)} WITH (FORCE)`;
  await admin.end();
  await stopEmbedded?.();
});
