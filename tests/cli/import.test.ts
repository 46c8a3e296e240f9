import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatReport, progressPrinter } from '../../src/cli/import.ts';
import { importFile, type ImportOptions, type ImportProgress } from '../../src/import/import-file.ts';
import { NAME_CHARACTERS_MESSAGE } from '../../src/http/text.ts';
import { SKU_PATTERN } from '../../src/products/model.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { runCommand } from '../support/command.ts';

const dir = mkdtempSync(join(tmpdir(), 'inventory-import-'));
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `text` to a file called `name` (in a folder of its own, so names may repeat). */
function file(name: string, text: string): string {
  const path = join(mkdtempSync(join(dir, 'f-')), name);
  writeFileSync(path, text);
  return path;
}
const csv = (...lines: string[]) => `${lines.join('\n')}\n`;
const load = (name: string, text: string, options?: ImportOptions) => importFile(db.sql, file(name, text), options);

/** An active product as the export shows it, with its version. */
async function product(sku: string) {
  const [row] = await db.sql`
    SELECT p.sku, p.name, p.description, p.price, p.quantity, c.name AS category, p.version
    FROM products p JOIN categories c ON c.id = p.category_id
    WHERE lower(p.sku) = lower(${sku}) AND p.archived_at IS NULL`;
  return row;
}

async function movements(sku: string) {
  return [
    ...(await db.sql`
    SELECT m.delta, m.reason, m.note, m.quantity_after
    FROM stock_movements m JOIN products p ON p.id = m.product_id
    WHERE lower(p.sku) = lower(${sku}) AND p.archived_at IS NULL
    ORDER BY m.id`),
  ];
}

/** Products whose quantity is not the sum of their movements' deltas (all of them, not only this test's). */
async function ledgerMismatches() {
  return [
    ...(await db.sql`
    SELECT p.sku, p.quantity, coalesce(sum(m.delta), 0)::int AS ledger
    FROM products p LEFT JOIN stock_movements m ON m.product_id = p.id
    GROUP BY p.id HAVING p.quantity <> coalesce(sum(m.delta), 0)`),
  ];
}

async function countWhere(table: 'products' | 'categories' | 'stock_movements') {
  const [row] = await db.sql`SELECT count(*)::int AS n FROM ${db.sql(table)}`;
  return row!.n as number;
}

describe('import: reading files', () => {
  test('a CSV file inserts its products, creating categories and writing initial stock movements', async () => {
    const result = await load(
      'tools.csv',
      csv(
        'sku,name,description,price,quantity,category',
        'CSV-1,Claw Hammer,16 oz,12.5,10,Import Tools',
        'CSV-2,Tape Measure,,7,,Import Tools',
        'CSV-3,Spirit Level,,19.99,2,',
      ),
    );
    expect(result).toMatchObject({ rows: 3, inserted: 3, updated: 0, unchanged: 0, invalidRows: 0, invalid: [], applied: true });
    expect(result.categoriesCreated).toBe(2); // Import Tools and Uncategorized: the test database starts without categories
    expect(await product('CSV-1')).toEqual({
      sku: 'CSV-1',
      name: 'Claw Hammer',
      description: '16 oz',
      price: '12.50',
      quantity: 10,
      category: 'Import Tools',
      version: 1,
    });
    expect(await product('CSV-2')).toMatchObject({ description: null, price: '7.00', quantity: 0, category: 'Import Tools' });
    expect(await product('CSV-3')).toMatchObject({ quantity: 2, category: 'Uncategorized' });
    expect(await movements('CSV-1')).toEqual([{ delta: 10, reason: 'initial', note: 'import tools.csv', quantity_after: 10 }]);
    expect(await movements('CSV-2')).toEqual([]);
  });

  test('CSV columns may come in any order and any case; optional ones may be left out', async () => {
    const result = await load('short.csv', csv('Price,NAME,Sku', '3,Pencil Sharpener,ORDER-1'));
    expect(result).toMatchObject({ inserted: 1, invalid: [] });
    expect(await product('ORDER-1')).toMatchObject({
      name: 'Pencil Sharpener',
      description: null,
      price: '3.00',
      quantity: 0,
      category: 'Uncategorized',
    });
  });

  test('a JSONL file: price as a number or a string, null for no description, blank lines skipped', async () => {
    const result = await load(
      'tools.jsonl',
      [
        '{"sku":"JSONL-1","name":"Bench Vise","price":49.9,"quantity":3,"category":"Import Tools","description":null}',
        '',
        '{"sku":"JSONL-2","name":"  Work Gloves ","price":"8.25","description":"Size L"}',
        '',
      ].join('\r\n'),
    );
    expect(result).toMatchObject({ rows: 2, inserted: 2, invalid: [], applied: true });
    expect(await product('JSONL-1')).toMatchObject({
      name: 'Bench Vise',
      description: null,
      price: '49.90',
      quantity: 3,
      category: 'Import Tools',
    });
    expect(await product('JSONL-2')).toMatchObject({ name: 'Work Gloves', description: 'Size L', price: '8.25', quantity: 0 });
  });

  test('quoted CSV fields hold commas, doubled quotes and line breaks; errors name the line a record starts on', async () => {
    const text = [
      'sku,name,description,price',
      'QUOTE-1,"Hammer, claw","He said ""sturdy""\r\nand ""cheap""",5', // lines 2-3
      'QUOTE-2,Saw,"multi\nline\ndescription",6', // lines 4-6
      'QUOTE-3,"Quoted ""Name""","",7', // line 7: a quoted empty field is an empty description
      'QUOTE-4,Drill,,not a price', // line 8
      '',
    ].join('\r\n');
    const result = await load('quoted.csv', text, { skipInvalid: true });
    expect(result.invalid).toEqual([
      { line: 8, field: 'price', message: 'must be a decimal number with at most 2 decimals, 0 to 99999999.99' },
    ]);
    expect(result).toMatchObject({ rows: 4, inserted: 3, invalidRows: 1 });
    expect(await product('QUOTE-1')).toMatchObject({ name: 'Hammer, claw', description: 'He said "sturdy"\r\nand "cheap"' });
    expect(await product('QUOTE-2')).toMatchObject({ name: 'Saw', description: 'multi\nline\ndescription' });
    expect(await product('QUOTE-3')).toMatchObject({ name: 'Quoted "Name"', description: '' });
    expect(await product('QUOTE-4')).toBeUndefined();
  });

  test('malformed CSV records are reported where they start', async () => {
    const result = await load(
      'malformed.csv',
      csv('sku,name,price', 'MAL-1,"Closed"early,1', 'MAL-2,Fine,2,extra', 'MAL-3,"Never closed,3', 'MAL-4,Swallowed,4'),
      { skipInvalid: true },
    );
    expect(result.invalid).toEqual([
      { line: 2, field: 'row', message: 'unexpected text after a closing quote' },
      { line: 3, field: 'row', message: 'expected 3 fields, found 4' },
      { line: 4, field: 'row', message: 'quoted field not closed before the end of the file' },
    ]);
    expect(result).toMatchObject({ rows: 3, inserted: 0 });
  });

  test('a CSV header with an unknown column, a repeated one or no sku refuses the file, even with --skip-invalid', async () => {
    const result = await load('header.csv', csv('name,colour,price,Price', 'Header Test,red,1,2'), { skipInvalid: true });
    expect(result.invalid).toEqual([
      {
        line: 1,
        field: 'colour',
        message: 'unknown column; the columns are sku, name, description, price, quantity, category, location',
      },
      { line: 1, field: 'price', message: 'column appears twice' },
      { line: 1, field: 'sku', message: 'required column missing from the header' },
    ]);
    expect(result.applied).toBe(false);
    expect(await product('HEAD-1')).toBeUndefined();
    const empty = await load('empty.csv', '');
    expect(empty.invalid).toEqual([{ line: 1, field: 'header', message: 'the file is empty; expected a header row' }]);
  });
});

describe('import: validation', () => {
  test('every rule is reported as line, field and reason, and a file with a bad row applies nothing', async () => {
    await load('existing.csv', csv('sku,name,price', 'VAL-EXIST,Validation Existing,1'));
    const before = await Promise.all([countWhere('products'), countWhere('categories'), countWhere('stock_movements')]);
    const text = csv(
      'sku,name,description,price,quantity,category',
      ',No Sku,,1,,', // 2
      'bad sku!,Bad Sku,,1,,', // 3
      `${'A'.repeat(65)},Long Sku,,1,,`, // 4
      'VAL-1,,,1,,', // 5
      'VAL-2,"   ",,1,,', // 6
      `VAL-3,${'n'.repeat(201)},,1,,`, // 7
      `VAL-4,Long Description,${'d'.repeat(2001)},1,,`, // 8
      'VAL-5,No Price,,,,', // 9
      'VAL-6,Three Decimals,,1.234,,', // 10
      'VAL-7,Too Expensive,,100000000,,', // 11
      'VAL-8,Negative Price,,-1,,', // 12
      'VAL-9,Fractional Stock,,1,1.5,', // 13
      'VAL-10,Negative Stock,,1,-3,', // 14
      'VAL-11,Huge Stock,,1,2147483648,', // 15
      'VAL-12,Blank Category,,1,,"  "', // 16
      `VAL-13,Long Category,,1,,${'c'.repeat(101)}`, // 17
      'VAL-14,Nul\u0000Name,,1,,', // 18
      'VAL-15,Dup Sku A,,1,,', // 19
      'val-15,Dup Sku B,,1,,', // 20
      'VAL-16,Same Name,,1,,', // 21
      'VAL-17,  same NAME ,,1,,', // 22
      'VAL-18,validation existing,,1,,', // 23
      'VAL-19,Too Few Fields', // 24
      'VAL-20,Two Errors,,abc,x,', // 25
      'VAL-21,Fine Row,,1,5,Validation New Category', // 26
    );
    const result = await load('invalid.csv', text);
    const price = 'must be a decimal number with at most 2 decimals, 0 to 99999999.99';
    const sku = '1 to 64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit';
    expect(result.invalid).toEqual([
      { line: 2, field: 'sku', message: 'is required' },
      { line: 3, field: 'sku', message: sku },
      { line: 4, field: 'sku', message: sku },
      { line: 5, field: 'name', message: 'is required for a new product' },
      { line: 6, field: 'name', message: 'must not be empty' },
      { line: 7, field: 'name', message: 'must be at most 200 characters' },
      { line: 8, field: 'description', message: 'must be at most 2000 characters' },
      { line: 9, field: 'price', message: 'is required for a new product' },
      { line: 10, field: 'price', message: price },
      { line: 11, field: 'price', message: price },
      { line: 12, field: 'price', message: price },
      { line: 13, field: 'quantity', message: 'must be a whole number' },
      { line: 14, field: 'quantity', message: 'must be at least 0' },
      { line: 15, field: 'quantity', message: 'must be at most 2147483647' },
      { line: 16, field: 'category', message: 'must not be empty' },
      { line: 17, field: 'category', message: 'must be at most 100 characters' },
      { line: 18, field: 'name', message: NAME_CHARACTERS_MESSAGE },
      { line: 20, field: 'sku', message: 'duplicate of line 19' },
      { line: 22, field: 'name', message: 'duplicate of line 21' },
      { line: 23, field: 'name', message: 'another product (SKU VAL-EXIST) has this name' },
      { line: 24, field: 'row', message: 'expected 6 fields, found 2' },
      { line: 25, field: 'price', message: price },
      { line: 25, field: 'quantity', message: 'must be a whole number' },
    ]);
    expect(result).toMatchObject({ rows: 25, invalidRows: 22, errorCount: 23, applied: false, inserted: 0 });
    // Nothing was written: not the valid row, not its new category, no movement.
    expect(await product('VAL-21')).toBeUndefined();
    expect(await Promise.all([countWhere('products'), countWhere('categories'), countWhere('stock_movements')])).toEqual(before);
  });

  test('the limits themselves are accepted', async () => {
    const result = await load(
      'limits.csv',
      csv(
        'sku,name,description,price,quantity,category',
        `${'L'.repeat(64)},${'n'.repeat(200)},${'d'.repeat(2000)},99999999.99,2147483647,${'c'.repeat(100)}`,
        'l.i_m-0,Free Sample,,0,0,Limits',
      ),
    );
    expect(result).toMatchObject({ inserted: 2, invalid: [] });
    expect(await product('L'.repeat(64))).toMatchObject({ price: '99999999.99', quantity: 2147483647 });
    expect(await product('l.i_m-0')).toMatchObject({ price: '0.00', quantity: 0 });
  });

  test("the SKU rule in SQL agrees with the API's SKU_PATTERN", async () => {
    const skus = [
      'A',
      'z9',
      '0',
      'a.b_c-D',
      '-A',
      '.A',
      '_A',
      'A B',
      'A/B',
      'ÄB',
      'Aé',
      'AB\n',
      'A\tB',
      'S'.repeat(64),
      'S'.repeat(65),
    ];
    const text = skus.map((sku, i) => JSON.stringify({ sku, name: `Sku Rule ${i}`, price: 1 })).join('\n');
    const result = await load('skus.jsonl', text, { mode: 'insert' });
    const refused = new Set(result.invalid.filter((e) => e.field === 'sku').map((e) => skus[e.line - 1]));
    expect(skus.filter((s) => refused.has(s))).toEqual(skus.filter((s) => !SKU_PATTERN.test(s)));
    expect(refused.size).toBeGreaterThan(5);
  });

  test('JSONL: bad JSON, non-objects, unknown fields, wrong types and NUL are reported by line', async () => {
    const result = await load(
      'bad.jsonl',
      [
        '{"sku":"JV-1","name":"Json Ok","price":1}',
        '{not json',
        '[1,2]',
        '{"sku":"JV-2","name":"Json Colour","price":1,"colour":"red"}',
        '{"sku":"JV-3","name":"Json Types","price":true,"quantity":"4","description":5}',
        '{"sku":"JV-4","name":"Nul \\u0000 here","price":1}',
        '{"sku":"JV-5","name":"Json Fraction","price":1.999,"quantity":2.5}',
      ].join('\n'),
    );
    expect(result.invalid).toEqual([
      { line: 2, field: 'row', message: 'not valid JSON' },
      { line: 3, field: 'row', message: 'must be a JSON object' },
      { line: 4, field: 'colour', message: 'unknown field' },
      { line: 5, field: 'description', message: 'must be a string or null' },
      { line: 5, field: 'price', message: 'must be a number or a decimal string' },
      { line: 5, field: 'quantity', message: 'must be a number' },
      { line: 6, field: 'name', message: NAME_CHARACTERS_MESSAGE },
      { line: 7, field: 'price', message: 'must be a decimal number with at most 2 decimals, 0 to 99999999.99' },
      { line: 7, field: 'quantity', message: 'must be a whole number' },
    ]);
    expect(result.applied).toBe(false);
    expect(await product('JV-1')).toBeUndefined();
  });
});

describe('import: applying', () => {
  test('--skip-invalid applies the valid rows and reports the others', async () => {
    const result = await load(
      'skip.csv',
      csv('sku,name,price,quantity', 'SKIP-1,Skip One,1,2', 'SKIP-2,Skip Two,oops,1', 'SKIP-3,Skip Three,3,'),
      { skipInvalid: true },
    );
    expect(result).toMatchObject({ rows: 3, inserted: 2, invalidRows: 1, applied: true });
    expect(result.invalid).toEqual([
      { line: 3, field: 'price', message: 'must be a decimal number with at most 2 decimals, 0 to 99999999.99' },
    ]);
    expect(await product('SKIP-1')).toMatchObject({ quantity: 2 });
    expect(await product('SKIP-2')).toBeUndefined();
    expect(await product('SKIP-3')).toMatchObject({ quantity: 0 });
  });

  test('--mode=insert refuses SKUs of active products in any case, but not of archived ones', async () => {
    await load('insert-setup.csv', csv('sku,name,price', 'INS-1,Insert Active,1', 'INS-2,Insert Archived,1'));
    await db.sql`UPDATE products SET archived_at = now() WHERE sku = 'INS-2'`;
    const text = csv('sku,name,price', 'ins-1,Insert Again,2', 'INS-2,Insert Reused,3');
    const refused = await load('insert.csv', text, { mode: 'insert' });
    expect(refused.invalid).toEqual([{ line: 2, field: 'sku', message: 'a product with this SKU already exists' }]);
    expect(refused.applied).toBe(false);
    expect(await product('INS-2')).toBeUndefined();

    const skipped = await load('insert.csv', text, { mode: 'insert', skipInvalid: true });
    expect(skipped).toMatchObject({ inserted: 1, updated: 0, invalidRows: 1 });
    expect(await product('INS-1')).toMatchObject({ name: 'Insert Active', price: '1.00' });
    expect(await product('INS-2')).toMatchObject({ name: 'Insert Reused', price: '3.00' });
  });

  test('upsert updates existing products and corrects their stock through the ledger', async () => {
    await load(
      'upsert-1.csv',
      csv(
        'sku,name,description,price,quantity,category',
        'UP-1,Upsert One,,1.00,10,Upsert Tools',
        'UP-2,Upsert Two,same,2.00,5,Upsert Tools',
        'UP-3,Upsert Three,old,3.00,7,Upsert Tools',
        'UP-4,Upsert Four,,4.00,0,Upsert Tools',
      ),
    );
    const result = await load(
      'upsert-2.csv',
      csv(
        'sku,name,description,price,quantity,category',
        'up-1,Upsert One Renamed,,1.50,4,Upsert Tools', // stock 10 → 4
        'UP-2,Upsert Two,same,2,5,upsert tools', // nothing changes
        'UP-3,Upsert Three,new,3.00,,Upsert Tools', // stock not given: kept
        'UP-4,Upsert Four,,4.00,3,Upsert New Category', // stock 0 → 3, new category
        'UP-5,Upsert Five,,5.00,2,Upsert Tools', // new
      ),
    );
    expect(result).toMatchObject({ rows: 5, inserted: 1, updated: 3, unchanged: 1, categoriesCreated: 1, invalid: [] });
    expect(await product('UP-1')).toEqual({
      sku: 'UP-1',
      name: 'Upsert One Renamed',
      description: null,
      price: '1.50',
      quantity: 4,
      category: 'Upsert Tools',
      version: 2,
    });
    expect(await movements('UP-1')).toEqual([
      { delta: 10, reason: 'initial', note: 'import upsert-1.csv', quantity_after: 10 },
      { delta: -6, reason: 'count_correction', note: 'import upsert-2.csv', quantity_after: 4 },
    ]);
    expect(await product('UP-2')).toMatchObject({ version: 1 }); // not even touched
    expect(await movements('UP-2')).toHaveLength(1);
    expect(await product('UP-3')).toMatchObject({ description: 'new', quantity: 7, version: 2 });
    expect(await movements('UP-3')).toHaveLength(1);
    expect(await product('UP-4')).toMatchObject({ quantity: 3, category: 'Upsert New Category' });
    expect(await movements('UP-4')).toEqual([
      { delta: 3, reason: 'count_correction', note: 'import upsert-2.csv', quantity_after: 3 },
    ]);
    expect(await movements('UP-5')).toEqual([{ delta: 2, reason: 'initial', note: 'import upsert-2.csv', quantity_after: 2 }]);
    expect(await ledgerMismatches()).toEqual([]);
  });

  test('a stock adjustment committed while the import waits for the product is counted in the correction', async () => {
    await load('race-1.csv', csv('sku,name,price,quantity', 'RACE-1,Race One,1,10'));
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    // A receipt of 5, written as POST /products/{id}/stock-adjustments writes it, left uncommitted.
    const adjusting = db.sql.begin(async (tx) => {
      const [p] = await tx`UPDATE products SET quantity = quantity + 5 WHERE sku = 'RACE-1' RETURNING id, quantity`;
      await tx`INSERT INTO stock_movements (product_id, delta, reason, quantity_after) VALUES (${p!.id}, 5, 'received', ${p!.quantity})`;
      locked();
      await held;
    });
    await isLocked;
    const importing = importFile(db.sql, file('race-2.csv', csv('sku,name,price,quantity', 'RACE-1,Race One,1,3')));
    // Wait (bounded) until the import is blocked on the product's row lock, then commit the receipt.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [waiting] = await db.sql`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%ORDER BY id FOR NO KEY UPDATE%'`;
      if (waiting!.n > 0) break;
      if (Date.now() > deadline) throw new Error('the import never waited for the locked product');
      await Bun.sleep(10);
    }
    release();
    await adjusting;
    expect(await importing).toMatchObject({ updated: 1, invalid: [] });
    expect(await product('RACE-1')).toMatchObject({ quantity: 3 });
    expect(await movements('RACE-1')).toEqual([
      { delta: 10, reason: 'initial', note: 'import race-1.csv', quantity_after: 10 },
      { delta: 5, reason: 'received', note: null, quantity_after: 15 },
      { delta: -12, reason: 'count_correction', note: 'import race-2.csv', quantity_after: 3 },
    ]);
    expect(await ledgerMismatches()).toEqual([]);
  });

  test('a name may move to its own product in another case, not to another product', async () => {
    await load('names-1.csv', csv('sku,name,price', 'NAME-1,Name Case,1', 'NAME-2,Name Taken,1'));
    const result = await load('names-2.csv', csv('sku,name,price', 'NAME-1,NAME CASE,1', 'NAME-2,Name Case Two,1'));
    expect(result).toMatchObject({ updated: 2, invalid: [] });
    expect(await product('NAME-1')).toMatchObject({ name: 'NAME CASE' });
    const clash = await load('names-3.csv', csv('sku,name,price', 'NAME-3,name case two,1'));
    expect(clash.invalid).toEqual([{ line: 2, field: 'name', message: 'another product (SKU NAME-2) has this name' }]);
  });

  test('categories are matched case-insensitively and created once, with the first spelling', async () => {
    await db.sql`INSERT INTO categories (name) VALUES ('Import Garden')`;
    const result = await load(
      'categories.csv',
      csv(
        'sku,name,price,category',
        'CAT-1,Category One,1,import garden',
        'CAT-2,Category Two,1,IMPORT GARDEN',
        'CAT-3,Category Three,1,  Import Plumbing  ',
        'CAT-4,Category Four,1,import plumbing',
        'CAT-5,Category Five,1,IMPORT PLUMBING',
      ),
    );
    expect(result).toMatchObject({ inserted: 5, categoriesCreated: 1 });
    const categories = await db.sql`
      SELECT name FROM categories WHERE lower(name) IN ('import garden', 'import plumbing') ORDER BY name`;
    expect(categories.map((c) => c.name)).toEqual(['Import Garden', 'Import Plumbing']);
    expect((await product('CAT-2'))?.category).toBe('Import Garden');
    expect((await product('CAT-5'))?.category).toBe('Import Plumbing');
  });

  test('a 100,000-row file imports in one transaction (rows/s printed, not asserted)', async () => {
    const lines = ['sku,name,description,price,quantity,category'];
    for (let i = 0; i < 100_000; i++) {
      lines.push(
        `PERF-${i},Perf Product ${i},${i % 10 ? '' : '"Perf, quoted"'},${i % 1000}.${String(i % 100).padStart(2, '0')},${i % 7},Perf Category ${i % 20}`,
      );
    }
    const path = file('perf.csv', `${lines.join('\n')}\n`);
    const result = await importFile(db.sql, path);
    console.log(`100,000-row import: ${result.seconds.toFixed(2)} s, ${Math.round(result.rows / result.seconds)} rows/s`);
    expect(result).toMatchObject({ rows: 100_000, inserted: 100_000, invalidRows: 0 });
    const [row] = await db.sql`
      SELECT count(*)::int AS n, sum(quantity)::int AS units FROM products WHERE sku LIKE 'PERF-%'`;
    expect(row).toEqual({ n: 100_000, units: Array.from({ length: 100_000 }, (_, i) => i % 7).reduce((a, b) => a + b, 0) });
    expect(await ledgerMismatches()).toEqual([]);
    // A throughput print, not a timing check: the limit only stops a hung import (each row also
    // publishes two events; a loaded machine has taken close to a minute).
  }, 240_000);
});

const OPTIONAL = ['name', 'description', 'price', 'quantity', 'category'] as const;
type Optional = (typeof OPTIONAL)[number];

/**
 * A file of one product row in `format`, with the columns `columns` (CSV header,
 * or the JSON keys). A null value is an empty cell: an empty unquoted CSV field,
 * a JSON null; every other CSV value is quoted.
 */
function oneRow(format: 'csv' | 'jsonl', columns: string[], values: Record<string, string | null>): string {
  if (format === 'csv') {
    const cell = (v: string | null) => (v === null ? '' : `"${v.replaceAll('"', '""')}"`);
    return csv(columns.join(','), columns.map((c) => cell(values[c] ?? null)).join(','));
  }
  const value = (c: string) => (values[c] == null ? null : c === 'quantity' ? Number(values[c]) : values[c]);
  return `${JSON.stringify(Object.fromEntries(columns.map((c) => [c, value(c)])))}\n`;
}

describe('import: locations', () => {
  async function levels(sku: string) {
    return [
      ...(await db.sql`
      SELECT lower(l.code) AS location, s.on_hand
      FROM stock_levels s JOIN locations l ON l.id = s.location_id JOIN products p ON p.id = s.product_id
      WHERE lower(p.sku) = lower(${sku}) ORDER BY l.id`),
    ];
  }

  test("a row's quantity is the on hand at its location; the product's other levels are untouched", async () => {
    await db.sql`INSERT INTO locations (code, name) VALUES ('Shop-1', 'Shop one'), ('Shop-2', 'Shop two')`;
    // A new product's initial stock goes to its rows' locations (none given: the default one).
    expect(
      await load('loc-1.csv', csv('sku,name,price,quantity,location', 'LOC-1,Located,1,4,shop-1', 'LOC-1,Located,1,6,SHOP-2')),
    ).toMatchObject({ inserted: 1, invalid: [] });
    expect(await levels('LOC-1')).toEqual([
      { location: 'shop-1', on_hand: 4 },
      { location: 'shop-2', on_hand: 6 },
    ]);
    // A count at one location corrects that level alone; the file without a location column counts the default one.
    expect(await load('loc-2.csv', csv('sku,quantity,location', 'LOC-1,1,Shop-1'))).toMatchObject({ updated: 1, invalid: [] });
    expect(await load('loc-3.csv', csv('sku,quantity', 'LOC-1,2'))).toMatchObject({ updated: 1, invalid: [] });
    expect(await levels('LOC-1')).toEqual([
      { location: 'default', on_hand: 2 },
      { location: 'shop-1', on_hand: 1 },
      { location: 'shop-2', on_hand: 6 },
    ]);
    expect(await product('LOC-1')).toMatchObject({ quantity: 9 });
    expect((await movements('LOC-1')).map((m) => [m.delta, m.reason])).toEqual([
      [4, 'initial'],
      [6, 'initial'],
      [-3, 'count_correction'],
      [2, 'count_correction'],
    ]);
    expect(await ledgerMismatches()).toEqual([]);
  });

  test('an unknown location, two rows of one SKU at one location, or rows that disagree are row errors', async () => {
    const result = await load(
      'loc-bad.csv',
      csv(
        'sku,name,price,quantity,location',
        'LOC-2,Nowhere,1,1,no-such-place', // 2
        'LOC-3,Twice,1,1,', // 3
        'LOC-3,Twice,1,2,default', // 4
        'LOC-4,Agreed,1,1,', // 5
        'LOC-4,Disagreed,2,1,shop-1', // 6
      ),
    );
    expect(result.invalid).toEqual([
      { line: 2, field: 'location', message: 'no active location with this code' },
      { line: 4, field: 'sku', message: 'duplicate of line 3' },
      { line: 6, field: 'name', message: 'differs from line 5, an earlier row of this SKU' },
      { line: 6, field: 'price', message: 'differs from line 5, an earlier row of this SKU' },
    ]);
    expect(result.applied).toBe(false);
  });
});

describe('import: columns left out and empty cells', () => {
  const stored = { description: 'as stored', price: '5.00', quantity: 7, category: 'Partial Stored' };
  const given = { description: 'as imported', price: '6.00', quantity: '9', category: 'Partial Imported' };
  const cases = (['csv', 'jsonl'] as const).flatMap((format) =>
    OPTIONAL.flatMap((field) => (['left out', 'empty'] as const).map((how) => [format, field, how] as const)),
  );
  let n = 0;

  test.each(cases)('%s, an existing product: %s %s', async (format, field, how) => {
    const sku = `PART-${++n}`;
    await load(
      'setup.csv',
      csv(
        'sku,name,description,price,quantity,category',
        `${sku},Partial ${sku},${stored.description},${stored.price},${stored.quantity},${stored.category}`,
      ),
    );
    const columns = ['sku', ...OPTIONAL.filter((c) => how === 'empty' || c !== field)];
    const values: Record<string, string | null> = { sku, name: `Renamed ${sku}`, ...given, [field]: null };
    const result = await load(`partial.${format}`, oneRow(format, columns, values));
    expect(result).toMatchObject({ rows: 1, inserted: 0, updated: 1, unchanged: 0, invalid: [], applied: true });

    const before = { name: `Partial ${sku}`, ...stored };
    const after = { name: `Renamed ${sku}`, ...given, quantity: Number(given.quantity) };
    // Left out, or empty: the product keeps its value, except that an empty description means none.
    const expected = { ...after, [field]: how === 'empty' && field === 'description' ? null : before[field] };
    expect(await product(sku)).toMatchObject({ ...expected, version: 2 });
    const changed = Object.fromEntries(OPTIONAL.map((f) => [f, expected[f] === before[f] ? 0 : 1])) as Record<Optional, number>;
    expect(result.changed).toEqual(changed);
    expect(await ledgerMismatches()).toEqual([]);
  });

  test.each(cases)('%s, a new product: %s %s', async (format, field, how) => {
    const sku = `PART-NEW-${++n}`;
    const columns = ['sku', ...OPTIONAL.filter((c) => how === 'empty' || c !== field)];
    const values: Record<string, string | null> = { sku, name: `New ${sku}`, ...given, [field]: null };
    const result = await load(`partial-new.${format}`, oneRow(format, columns, values));
    if (field === 'name' || field === 'price') {
      // What POST /products requires, a new product needs.
      expect(result.invalid).toEqual([{ line: format === 'csv' ? 2 : 1, field, message: 'is required for a new product' }]);
      expect(result.applied).toBe(false);
      expect(await product(sku)).toBeUndefined();
      return;
    }
    expect(result).toMatchObject({ inserted: 1, invalid: [] });
    // What POST /products gives a field it is not sent.
    const defaults = { description: null, quantity: 0, category: 'Uncategorized' };
    expect(await product(sku)).toMatchObject({
      name: `New ${sku}`,
      ...given,
      quantity: Number(given.quantity),
      [field]: defaults[field],
    });
  });

  test('a stock count: a file of sku and quantity changes only the stock, through the ledger', async () => {
    await load(
      'count-setup.csv',
      csv(
        'sku,name,description,price,quantity,category',
        'COUNT-1,Counted One,kept,3.00,10,Counted',
        'COUNT-2,Counted Two,,4.00,5,Counted',
      ),
    );
    const result = await load('count.csv', csv('sku,quantity', 'COUNT-1,8', 'count-2,5'));
    expect(result).toMatchObject({ inserted: 0, updated: 1, unchanged: 1, invalid: [] });
    expect(result.changed).toEqual({ name: 0, description: 0, price: 0, quantity: 1, category: 0 });
    expect(await product('COUNT-1')).toMatchObject({
      name: 'Counted One',
      description: 'kept',
      price: '3.00',
      quantity: 8,
      category: 'Counted',
      version: 2,
    });
    expect((await movements('COUNT-1')).at(-1)).toEqual({
      delta: -2,
      reason: 'count_correction',
      note: 'import count.csv',
      quantity_after: 8,
    });
    const unknown = await load('count-new.csv', csv('sku,quantity', 'COUNT-3,1'));
    expect(unknown.invalid).toEqual([
      { line: 2, field: 'name', message: 'is required for a new product' },
      { line: 2, field: 'price', message: 'is required for a new product' },
    ]);
  });
});

describe('the import command', () => {
  const runCli = (...args: string[]) => runCommand('src/cli/import.ts', args, db.url);

  test('prints plain progress and the summary when not on a terminal, and exits 0', async () => {
    const path = file('cli.csv', csv('sku,name,price,quantity', 'CLI-1,Cli One,1,3', 'CLI-2,Cli Two,2,'));
    const { stdout, stderr, code } = await runCli(path);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^imported 2 rows in \d+\.\d s \(\d+ rows\/s\): 2 inserted, 0 updated, 0 unchanged, 0 invalid\n$/);
    expect(stderr).toMatch(/^read 2 rows in \d+\.\d s; checking them\nchecked in \d+\.\d s; applying\napplied in \d+\.\d s\n$/);
    expect(await product('CLI-1')).toMatchObject({ quantity: 3 });

    const again = await runCli(file('cli-2.csv', csv('sku,price,quantity', 'CLI-1,1.50,4', 'CLI-2,2,')));
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(
      new RegExp(
        '^imported 2 rows in \\d+\\.\\d s \\(\\d+ rows/s\\): 0 inserted, 1 updated, 1 unchanged, 0 invalid\n' +
          'products changed per field: name 0, description 0, price 1, quantity 1, category 0\n$',
      ),
    );
  });

  test('exits 1 on a file with a bad row, printing each error and applying nothing', async () => {
    const path = file('cli-bad.csv', csv('sku,name,price', 'CLI-3,Cli Three,1', 'CLI-4,Cli Four,-2'));
    const { stdout, code } = await runCli(path, '--mode=insert');
    expect(code).toBe(1);
    expect(stdout).toMatch(
      new RegExp(
        '^line 3: price: must be a decimal number with at most 2 decimals, 0 to 99999999\\.99\n' +
          'refused 2 rows in \\d+\\.\\d s \\(\\d+ rows/s\\): 1 invalid, nothing applied \\(--skip-invalid applies the 1 valid rows\\)\n$',
      ),
    );
    expect(await product('CLI-3')).toBeUndefined();
  });

  test('exits 2 on bad usage and 1 on a missing file', async () => {
    const usage = await runCli('a.csv', '--mode=replace');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--mode must be upsert or insert\nusage: bun run import');
    const missing = await runCli(join(dir, 'no-such-file.csv'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^cannot read .*no-such-file\.csv: no such file\n$/);
  });

  test('progress: a bar redrawn in place on a terminal, a line every 100,000 rows otherwise', () => {
    const events: ImportProgress[] = [50_000, 100_000, 150_000, 250_000].map((rows, i) => ({
      phase: 'read',
      rows,
      bytes: rows * 10,
      totalBytes: 2_500_000,
      seconds: i + 1,
    }));
    const printed = (isTTY: boolean) => {
      let text = '';
      const print = progressPrinter({
        isTTY,
        write: (s: string) => {
          text += s;
        },
      });
      for (const e of events) print(e);
      print({ phase: 'check', rows: 250_000, bytes: 2_500_000, totalBytes: 2_500_000, seconds: 5 });
      return text;
    };
    expect(printed(false)).toBe(
      'read 100000 rows (2.0 s, 50000 rows/s)\nread 250000 rows (4.0 s, 62500 rows/s)\nread 250000 rows in 5.0 s; checking them\n',
    );
    const tty = printed(true);
    expect(tty).toContain('\r\x1b[K[############..................]  40%  100000 rows  50000 rows/s');
    expect(tty).toContain('\r\x1b[K[##############################] 100%  250000 rows  50000 rows/s\nread 250000 rows in 5.0 s');
  });

  test('the report lists errors beyond the first 1000 as a count', () => {
    const invalid = Array.from({ length: 1000 }, (_, i) => ({ line: i + 2, field: 'price', message: 'bad' }));
    const text = formatReport(
      {
        rows: 1500,
        inserted: 0,
        updated: 0,
        unchanged: 0,
        categoriesCreated: 0,
        invalidRows: 1200,
        errorCount: 1300,
        changed: { name: 0, description: 0, price: 0, quantity: 0, category: 0 },
        invalid,
        applied: false,
        seconds: 1,
      },
      { skipInvalid: false },
    );
    expect(text.split('\n').slice(-3)).toEqual([
      '... and 300 more errors',
      'refused 1500 rows in 1.0 s (1500 rows/s): 1200 invalid, nothing applied (--skip-invalid applies the 300 valid rows)',
      '',
    ]);
  });
});
