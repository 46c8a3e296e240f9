/**
 * The product model (src/products/model.ts) and the SQL that states its rules
 * again: the table's CHECK constraints and column types, and the import's
 * checks (src/import/queries.ts). Each is read from the database or run on the
 * same sample values, so a change to one side fails here until the other follows.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import {
  MAX_DESCRIPTION,
  MAX_PRODUCT_NAME,
  PRICE_DECIMALS,
  PRICE_INTEGER_DIGITS,
  PRICE_MAX,
  PRICE_MAX_TEXT,
  PRICE_MIN,
  PRICE_TEXT,
  PRICE_TEXT_SQL,
  QUANTITY_MAX,
  QUANTITY_MIN,
  QUANTITY_TEXT_SQL,
  SKU_CHARACTERS,
  SKU_MAX_LENGTH,
  SKU_PATTERN,
  generateSku,
} from '../../src/products/model.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});

afterAll(async () => {
  await t?.drop();
});

/** The definition of one of the products table's constraints, as pg_get_constraintdef prints it. */
async function constraint(name: string): Promise<string> {
  const [row] = await t.sql<{ def: string }[]>`
    SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
    WHERE conrelid = 'public.products'::regclass AND conname = ${name}`;
  expect(row).toBeDefined();
  return row!.def;
}

/** A column of the products table as format_type prints its type. */
async function columnType(column: string): Promise<string> {
  const [row] = await t.sql<{ type: string }[]>`
    SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute
    WHERE attrelid = 'public.products'::regclass AND attname = ${column}`;
  return row!.type;
}

const SKUS = [
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
  '',
  '١٢',
  'S'.repeat(SKU_MAX_LENGTH),
  'S'.repeat(SKU_MAX_LENGTH + 1),
  generateSku(),
];

const PRICES = [
  '0',
  '0.0',
  '0.01',
  '1',
  '1.5',
  '19.99',
  '019.99',
  PRICE_MAX_TEXT,
  '100000000',
  '99999999.999',
  '1.234',
  '-1',
  '+1',
  '1.',
  '.5',
  '1e2',
  '1,5',
  ' 1',
  '1 ',
  '',
  '١٢',
  '１２',
  '12.٣',
];

describe('the product model and the database agree', () => {
  test('the SKU pattern is the CHECK constraint products_sku_format', async () => {
    expect(await constraint('products_sku_format')).toBe(`CHECK ((sku ~ '${SKU_PATTERN.source}'::text))`);
  });

  test("the SKU pattern, and the import's unbounded form with its length check, accept the same SKUs as the CHECK's pattern in PostgreSQL", async () => {
    const rows = await t.sql<{ sku: string; check: boolean; import: boolean }[]>`
      SELECT v AS sku, v ~ ${SKU_PATTERN.source} AS check,
             v ~ ${SKU_CHARACTERS} AND char_length(v) <= ${SKU_MAX_LENGTH} AS import
      FROM unnest(${SKUS}::text[]) v`;
    for (const row of rows) {
      expect({ sku: row.sku, ok: SKU_PATTERN.test(row.sku) }).toEqual({ sku: row.sku, ok: row.check });
      expect({ sku: row.sku, ok: row.import }).toEqual({ sku: row.sku, ok: row.check });
    }
    expect(SKU_PATTERN.test(generateSku())).toBe(true);
  });

  test('the price bounds are the column type numeric(10,2) and the CHECK products_price_nonnegative', async () => {
    expect(await columnType('price')).toBe(`numeric(${PRICE_INTEGER_DIGITS + PRICE_DECIMALS},${PRICE_DECIMALS})`);
    expect(await constraint('products_price_nonnegative')).toBe(`CHECK ((price >= (${PRICE_MIN})::numeric))`);
    expect(PRICE_MAX).toBe(99999999.99);
    // The largest price is stored as written; one cent more does not fit the column.
    const [max] = await t.sql<{ price: string }[]>`SELECT ${PRICE_MAX_TEXT}::numeric(10,2)::text AS price`;
    expect(max!.price).toBe(PRICE_MAX_TEXT);
    await expect(t.sql`SELECT '100000000.00'::numeric(10,2)`.then(() => 'stored')).rejects.toMatchObject({ code: '22003' });
  });

  test("the price text rule in JavaScript and in the import's SQL accept the same values", async () => {
    const rows = await t.sql<{ price: string; ok: boolean }[]>`
      SELECT v AS price, v ~ ${PRICE_TEXT_SQL} AS ok FROM unnest(${PRICES}::text[]) v`;
    expect(rows.length).toBe(PRICES.length);
    for (const row of rows)
      expect({ price: row.price, ok: PRICE_TEXT.test(row.price) }).toEqual({ price: row.price, ok: row.ok });
    // Every value the rule accepts fits the column and the CHECK.
    const accepted = PRICES.filter((p) => PRICE_TEXT.test(p));
    const stored = await t.sql<{ ok: boolean }[]>`
      SELECT v::numeric(10,2) >= 0 AS ok FROM unnest(${accepted}::text[]) v`;
    expect(stored.every((r) => r.ok)).toBe(true);
  });

  test('the quantity bounds are the column type integer and the CHECK products_quantity_nonnegative', async () => {
    expect(await columnType('quantity')).toBe('integer');
    expect(await constraint('products_quantity_nonnegative')).toBe(`CHECK ((quantity >= ${QUANTITY_MIN}))`);
    const [max] = await t.sql<{ max: number }[]>`SELECT ${String(QUANTITY_MAX)}::integer AS max`;
    expect(max!.max).toBe(QUANTITY_MAX);
    await expect(t.sql`SELECT ${String(QUANTITY_MAX + 1)}::integer`.then(() => 'stored')).rejects.toMatchObject({
      code: '22003',
    });
    const [q] = await t.sql<{ ok: boolean[] }[]>`
      SELECT array_agg(v ~ ${QUANTITY_TEXT_SQL} ORDER BY o) AS ok FROM unnest(${['12', '-3', '1.5', '1e2', '', ' 1']}::text[]) WITH ORDINALITY u (v, o)`;
    expect(q!.ok).toEqual([true, true, false, false, false, false]);
  });

  test('the name and description lengths are the CHECKs', async () => {
    expect(await constraint('products_name_length')).toBe(
      `CHECK (((char_length(name) >= 1) AND (char_length(name) <= ${MAX_PRODUCT_NAME})))`,
    );
    expect(await constraint('products_description_length')).toBe(`CHECK ((char_length(description) <= ${MAX_DESCRIPTION}))`);
  });
});
