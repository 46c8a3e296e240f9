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
import { dbmate } from '../../src/cli/database.ts';
import { freePort, startEmbeddedPostgres } from '../../src/cli/embedded-postgres.ts';
import { prepareTemplate } from './db.ts';

let adminUrl = process.env.TEST_DATABASE_URL;
let stopEmbedded: (() => Promise<void>) | undefined;

if (!adminUrl) {
  const dir = mkdtempSync(join(tmpdir(), 'inventory-test-pg-'));
  const pg = await startEmbeddedPostgres({ dir, port: await freePort(), persistent: false });
  adminUrl = pg.adminUrl;
  stopEmbedded = async () => {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}

const template = `inventory_template_${process.pid}`;
const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
try {
  await admin`DROP DATABASE IF EXISTS ${admin(template)}`;
  await admin`CREATE DATABASE ${admin(template)}`;
  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${template}`;
  await dbmate(templateUrl.toString(), ['up'], true);
  await prepareTemplate(adminUrl, template);
} catch (error) {
  await admin.end();
  await stopEmbedded?.();
  throw error;
}

process.env.TEST_ADMIN_URL = adminUrl;
process.env.TEST_TEMPLATE_DATABASE = template;

afterAll(async () => {
  await admin`DROP DATABASE IF EXISTS ${admin(template)} WITH (FORCE)`;
  await admin.end();
  await stopEmbedded?.();
});
