import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { exportCsv, UnknownCategoryError } from '../../src/cli/export.ts';
import { importFile } from '../../src/import/import-file.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { runCommand } from '../support/command.ts';

const dir = mkdtempSync(join(tmpdir(), 'inventory-export-'));
let db: TestDatabase;

// Names sort case-insensitively: apple, Banana, cherry, Damson.
const SOURCE = [
  'sku,name,description,price,quantity,category',
  'EXP-3,cherry Pitter,"Pits, stones and ""seeds""",4.5,3,Export Kitchen',
  'EXP-1,apple Corer,,12,0,export kitchen',
  'EXP-2,Banana Hook,"two\nlines",0.99,12,Export Garden',
  'EXP-4,Damson Jar,"",1,1,Export Garden',
  'EXP-5,Archived Thing,,1,1,Export Garden',
  '',
].join('\n');

beforeAll(async () => {
  db = await createTestDatabase();
  const source = join(dir, 'source.csv');
  writeFileSync(source, SOURCE);
  const result = await importFile(db.sql, source);
  if (result.inserted !== 5) throw new Error(`setup import failed: ${JSON.stringify(result.invalid)}`);
  await db.sql`UPDATE products SET archived_at = now() WHERE sku = 'EXP-5'`;
});
afterAll(async () => {
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function exported(filter: { category?: string; byLocation?: boolean } = {}): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk));
  await exportCsv(db.sql, filter, out);
  return Buffer.concat(chunks).toString('utf8');
}

/** Everything an import could change, to compare before and after. */
async function snapshot() {
  return {
    products: [...(await db.sql`SELECT * FROM products ORDER BY id`)],
    categories: [...(await db.sql`SELECT * FROM categories ORDER BY id`)],
    movements: [...(await db.sql`SELECT * FROM stock_movements ORDER BY id`)],
  };
}

describe('export', () => {
  test('writes the active products as CSV ordered by name, whatever its case', async () => {
    expect(await exported()).toBe(
      [
        'sku,name,description,price,quantity,category,location',
        'EXP-1,apple Corer,,12.00,0,Export Kitchen,DEFAULT',
        'EXP-2,Banana Hook,"two\nlines",0.99,12,Export Garden,DEFAULT',
        'EXP-3,cherry Pitter,"Pits, stones and ""seeds""",4.50,3,Export Kitchen,DEFAULT',
        'EXP-4,Damson Jar,"",1.00,1,Export Garden,DEFAULT', // an empty description, not a missing one
        '',
      ].join('\n'),
    );
  });

  test('--category keeps one category, matched case-insensitively; an unknown one is an error', async () => {
    expect(await exported({ category: 'EXPORT garden' })).toBe(
      [
        'sku,name,description,price,quantity,category,location',
        'EXP-2,Banana Hook,"two\nlines",0.99,12,Export Garden,DEFAULT',
        'EXP-4,Damson Jar,"",1.00,1,Export Garden,DEFAULT',
        '',
      ].join('\n'),
    );
    await expect(exported({ category: 'No Such Category' })).rejects.toBeInstanceOf(UnknownCategoryError);
  });

  test('an export imported again with --mode=upsert changes nothing', async () => {
    const path = join(dir, 'round-trip.csv');
    writeFileSync(path, await exported());
    const before = await snapshot();
    const result = await importFile(db.sql, path, { mode: 'upsert' });
    expect(result).toMatchObject({ rows: 4, inserted: 0, updated: 0, unchanged: 4, categoriesCreated: 0, invalid: [] });
    expect(await snapshot()).toEqual(before);
  });

  test('one row per stock level, by location code; --no-location writes one row per product with its total', async () => {
    await db.sql`INSERT INTO locations (code, name) VALUES ('Back-Room', 'Back room')`;
    const source = join(dir, 'levels.csv');
    writeFileSync(source, 'sku,name,price,quantity,category,location\nEXP-6,Elder Press,2,5,Export Levels,back-room\n');
    expect(await importFile(db.sql, source)).toMatchObject({ inserted: 1, invalid: [] });
    writeFileSync(source, 'sku,quantity\nEXP-6,1\n');
    expect(await importFile(db.sql, source)).toMatchObject({ updated: 1, invalid: [] });
    expect(await exported({ category: 'Export Levels' })).toBe(
      [
        'sku,name,description,price,quantity,category,location',
        'EXP-6,Elder Press,,2.00,1,Export Levels,DEFAULT',
        'EXP-6,Elder Press,,2.00,5,Export Levels,Back-Room',
        '',
      ].join('\n'),
    );
    expect(await exported({ category: 'Export Levels', byLocation: false })).toBe(
      ['sku,name,description,price,quantity,category', 'EXP-6,Elder Press,,2.00,6,Export Levels', ''].join('\n'),
    );
    // The rows of every level imported back change nothing.
    const path = join(dir, 'levels-round-trip.csv');
    writeFileSync(path, await exported({ category: 'Export Levels' }));
    const before = await snapshot();
    expect(await importFile(db.sql, path, { mode: 'upsert' })).toMatchObject({ rows: 2, updated: 0, unchanged: 1, invalid: [] });
    expect(await snapshot()).toEqual(before);
  });
});

describe('the export command', () => {
  const runCli = (...args: string[]) => runCommand('src/cli/export.ts', args, db.url);

  test('writes to stdout, or to --out, and reports on stderr', async () => {
    const toStdout = await runCli();
    expect(toStdout.code).toBe(0);
    expect(toStdout.stdout).toBe(await exported());
    expect(toStdout.stderr).toMatch(/^exported \d+ rows to stdout in \d+\.\d s\n$/);

    const out = join(dir, 'garden.csv');
    const toFile = await runCli('--category', 'export garden', '--out', out);
    expect(toFile.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(await exported({ category: 'Export Garden' }));
    expect(toFile.stderr).toMatch(/^exported 2 rows to .*garden\.csv in \d+\.\d s\n$/);
  });

  test('exits 1 for an unknown category', async () => {
    const { code, stderr } = await runCli('--category', 'Nothing Here');
    expect(code).toBe(1);
    expect(stderr).toBe('export failed: no category named "Nothing Here"\n');
  });
});
