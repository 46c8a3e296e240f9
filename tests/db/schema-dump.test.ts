/**
 * db/schema.sql is the committed picture of the schema: it must be exactly
 * what the migrations produce, so it cannot drift from them unnoticed.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { dbmate } from '../../src/cli/dbmate.ts';
import { dumpSchema, SCHEMA_FILE } from '../../src/cli/schema-dump.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { fingerprint } from './fingerprint.ts';

/** A database the migrations built, and one that only db/schema.sql built. */
let migrated: TestDatabase;
let fromSchemaFile: TestDatabase;

beforeAll(async () => {
  [migrated, fromSchemaFile] = await Promise.all([createTestDatabase({ empty: true }), createTestDatabase({ empty: true })]);
  await dbmate(migrated.adminUrl, ['up'], true);
});

afterAll(async () => {
  await Promise.all([migrated?.drop(), fromSchemaFile?.drop()]);
});

/** The first line where two texts differ, for a message a developer can act on. */
function firstDifference(committed: string, generated: string): string {
  const a = committed.split('\n');
  const b = generated.split('\n');
  const i = a.findIndex((line, n) => line !== b[n]);
  const at = i === -1 ? a.length : i;
  return `line ${at + 1}: committed ${JSON.stringify(a[at] ?? '<end of file>')}, migrations give ${JSON.stringify(b[at] ?? '<end of file>')}`;
}

test('db/schema.sql is exactly the dump of a freshly migrated database', async () => {
  const committed = readFileSync(SCHEMA_FILE, 'utf8');
  const generated = await dumpSchema(migrated.adminUrl);
  expect(
    committed,
    `db/schema.sql does not match the migrations (${firstDifference(committed, generated)}). ` +
      'Run `bun run db:dump` and commit db/schema.sql. (Expected: what the migrations give; Received: db/schema.sql.)',
  ).toBe(generated);
});

test('db/schema.sql, run on an empty database, builds the same schema as the migrations', async () => {
  await fromSchemaFile.admin.file(SCHEMA_FILE).simple();
  // What a reader of db/schema.sql sees must be the schema, including each table's persistence (UNLOGGED).
  expect(
    await fingerprint(fromSchemaFile.admin),
    'db/schema.sql leaves out or changes something the migrations create: src/cli/schema-dump.ts must write it. ' +
      '(Expected: the migrated schema; Received: the schema db/schema.sql builds.)',
  ).toEqual(await fingerprint(migrated.admin));
});
