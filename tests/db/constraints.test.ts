/**
 * Bad rows typed as plain SQL, past any validator: the database itself
 * refuses them, with the error code and constraint name the service maps.
 * Every statement runs in a transaction that is rolled back.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type postgres from 'postgres';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

type Tx = postgres.TransactionSql;

let t: TestDatabase;
/** A committed category holding one committed product, SKU "BASE-001", name "Base Product", 5 in stock. */
let categoryId: number;
let productId: number;

beforeAll(async () => {
  t = await createTestDatabase();
  const [category] = await t.sql<{ id: number }[]>`INSERT INTO categories (name) VALUES ('Tools') RETURNING id`;
  categoryId = category!.id;
  const [product] = await t.sql<{ id: number }[]>`
    WITH p AS (
      INSERT INTO products (sku, name, price, quantity, category_id)
      VALUES ('BASE-001', 'Base Product', 10.00, 5, ${categoryId}) RETURNING id, quantity
    ), initial AS (
      INSERT INTO stock_movements (product_id, delta, reason, quantity_after) SELECT id, quantity, 'initial', quantity FROM p
    )
    SELECT id FROM p`;
  productId = product!.id;
});

afterAll(async () => {
  await t?.drop();
});

class RolledBack extends Error {}

/** Runs `fn` in a transaction that is always rolled back, and returns what it returned. */
async function rolledBack<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
  let result: T;
  try {
    await t.sql.begin(async (tx) => {
      result = await fn(tx);
      throw new RolledBack();
    });
  } catch (error) {
    if (!(error instanceof RolledBack)) throw error;
  }
  return result!;
}

/** The error PostgreSQL answers `fn` with; fails when the statement is accepted. */
async function refusal(fn: (tx: Tx) => Promise<unknown>): Promise<postgres.PostgresError> {
  try {
    await rolledBack(fn);
  } catch (error) {
    return error as postgres.PostgresError;
  }
  throw new Error('the database accepted the statement');
}

const CHECK = '23514';
const UNIQUE = '23505';
const FOREIGN_KEY = '23503';
const NOT_NULL = '23502';
const OUT_OF_RANGE = '22003';

/** A product insert where only the fields under test differ from a valid row. */
function insertProduct(
  tx: Tx,
  fields: Partial<{
    sku: string;
    name: string;
    description: string | null;
    price: string | number;
    quantity: number;
    category_id: number;
  }>,
) {
  const row = { sku: 'NEW-001', name: 'New Product', price: '1.00', category_id: categoryId, ...fields };
  return tx<{ id: number; price: string; quantity: number; version: number }[]>`
    INSERT INTO products ${tx(row)} RETURNING id, price, quantity, version`;
}

describe('categories refuse', () => {
  test.each([
    ['an empty name', '', 'categories_name_length'],
    ['a name of 101 characters', 'x'.repeat(101), 'categories_name_length'],
    ['a name with a leading space', ' Garden', 'categories_name_trimmed'],
    ['a name with a trailing space', 'Garden ', 'categories_name_trimmed'],
    // The API trims names with String.prototype.trim, which removes every kind of whitespace.
    ['a name with a trailing tab', 'Garden\t', 'categories_name_trimmed'],
  ])('%s', async (_, name, constraint) => {
    const error = await refusal((tx) => tx`INSERT INTO categories (name) VALUES (${name})`);
    expect(error).toMatchObject({ code: CHECK, constraint_name: constraint, table_name: 'categories' });
  });

  test('a null name', async () => {
    const error = await refusal((tx) => tx`INSERT INTO categories (name) VALUES (NULL)`);
    expect(error).toMatchObject({ code: NOT_NULL, column_name: 'name', table_name: 'categories' });
  });

  test('a name that differs from an existing one only in case', async () => {
    const error = await refusal((tx) => tx`INSERT INTO categories (name) VALUES ('TOOLS')`);
    expect(error).toMatchObject({ code: UNIQUE, constraint_name: 'categories_name_key' });
  });

  test('deleting a category that holds products (ON DELETE RESTRICT)', async () => {
    const error = await refusal((tx) => tx`DELETE FROM categories WHERE id = ${categoryId}`);
    expect(error).toMatchObject({ code: FOREIGN_KEY, constraint_name: 'products_category_id_fkey', table_name: 'products' });
  });

  test('deleting a category whose only products are archived', async () => {
    const error = await refusal(async (tx) => {
      const [c] = await tx<{ id: number }[]>`INSERT INTO categories (name) VALUES ('Attic') RETURNING id`;
      await insertProduct(tx, { category_id: c!.id });
      await tx`UPDATE products SET archived_at = now() WHERE category_id = ${c!.id}`;
      await tx`DELETE FROM categories WHERE id = ${c!.id}`;
    });
    expect(error).toMatchObject({ code: FOREIGN_KEY, constraint_name: 'products_category_id_fkey' });
  });

  test('an explicit id (the identity is GENERATED ALWAYS)', async () => {
    const error = await refusal((tx) => tx`INSERT INTO categories (id, name) VALUES (999999, 'Garden')`);
    expect(error.code).toBe('428C9');
  });
});

describe('categories accept', () => {
  test('a name of exactly 100 characters, and deleting an empty category', async () => {
    const deleted = await rolledBack(async (tx) => {
      const [c] = await tx<{ id: number }[]>`INSERT INTO categories (name) VALUES (${'x'.repeat(100)}) RETURNING id`;
      return tx`DELETE FROM categories WHERE id = ${c!.id}`;
    });
    expect(deleted.count).toBe(1);
  });
});

describe('products refuse', () => {
  test.each([
    ['an empty name', { name: '' }, 'products_name_length'],
    ['a name of 201 characters', { name: 'x'.repeat(201) }, 'products_name_length'],
    ['a name with a leading space', { name: ' Hammer' }, 'products_name_trimmed'],
    ['a name with a trailing space', { name: 'Hammer ' }, 'products_name_trimmed'],
    // The API trims names with String.prototype.trim, which removes every kind of whitespace.
    ['a name with a trailing newline', { name: 'Hammer\n' }, 'products_name_trimmed'],
    ['a name with a leading no-break space', { name: '\u00a0Hammer' }, 'products_name_trimmed'],
    ['a name of spaces only', { name: '   ' }, 'products_name_trimmed'],
    ['a description of 2001 characters', { description: 'd'.repeat(2001) }, 'products_description_length'],
    ['an empty SKU', { sku: '' }, 'products_sku_format'],
    ['a SKU starting with a dash', { sku: '-ABC' }, 'products_sku_format'],
    ['a SKU starting with a dot', { sku: '.ABC' }, 'products_sku_format'],
    ['a SKU with a space', { sku: 'AB C' }, 'products_sku_format'],
    ['a SKU with a slash', { sku: 'AB/C' }, 'products_sku_format'],
    ['a SKU with a non-ASCII letter', { sku: 'ÄBC' }, 'products_sku_format'],
    ['a SKU ending in a newline', { sku: 'ABC\n' }, 'products_sku_format'],
    ['a SKU of 65 characters', { sku: 'A'.repeat(65) }, 'products_sku_format'],
    ['a negative price', { price: '-0.01' }, 'products_price_nonnegative'],
    ['a negative quantity', { quantity: -1 }, 'products_quantity_nonnegative'],
  ])('%s', async (_, fields, constraint) => {
    const error = await refusal((tx) => insertProduct(tx, fields));
    expect(error).toMatchObject({ code: CHECK, constraint_name: constraint, table_name: 'products' });
  });

  test.each(['sku', 'name', 'price', 'category_id'] as const)('a null %s', async (column) => {
    const error = await refusal((tx) => insertProduct(tx, { [column]: null as never }));
    expect(error).toMatchObject({ code: NOT_NULL, column_name: column, table_name: 'products' });
  });

  test('a null quantity (the default applies only when the column is left out)', async () => {
    const error = await refusal((tx) => insertProduct(tx, { quantity: null as never }));
    expect(error).toMatchObject({ code: NOT_NULL, column_name: 'quantity' });
  });

  test("a SKU that differs from an active product's only in case", async () => {
    const error = await refusal((tx) => insertProduct(tx, { sku: 'base-001' }));
    expect(error).toMatchObject({ code: UNIQUE, constraint_name: 'products_sku_key' });
  });

  test("a name that differs from an active product's only in case", async () => {
    const error = await refusal((tx) => insertProduct(tx, { name: 'BASE PRODUCT' }));
    expect(error).toMatchObject({ code: UNIQUE, constraint_name: 'products_name_key' });
  });

  test('restoring an archived product whose SKU an active product took meanwhile', async () => {
    const error = await refusal(async (tx) => {
      await tx`UPDATE products SET archived_at = now() WHERE id = ${productId}`;
      await insertProduct(tx, { sku: 'Base-001', name: 'Successor' });
      await tx`UPDATE products SET archived_at = NULL WHERE id = ${productId}`;
    });
    expect(error).toMatchObject({ code: UNIQUE, constraint_name: 'products_sku_key' });
  });

  test('a price above 99999999.99 (numeric(10,2) overflows)', async () => {
    const error = await refusal((tx) => insertProduct(tx, { price: '100000000.00' }));
    expect(error.code).toBe(OUT_OF_RANGE);
    expect(error.message).toContain('numeric field overflow');
  });

  test('a price that rounds up past 99999999.99', async () => {
    const error = await refusal((tx) => insertProduct(tx, { price: '99999999.995' }));
    expect(error.code).toBe(OUT_OF_RANGE);
  });

  test('a quantity beyond integer range', async () => {
    const error = await refusal((tx) => insertProduct(tx, { quantity: 2147483648 }));
    expect(error.code).toBe(OUT_OF_RANGE);
  });

  test('an unknown category_id', async () => {
    const error = await refusal((tx) => insertProduct(tx, { category_id: 987654321 }));
    expect(error).toMatchObject({ code: FOREIGN_KEY, constraint_name: 'products_category_id_fkey' });
  });

  test('moving a product to an unknown category', async () => {
    const error = await refusal((tx) => tx`UPDATE products SET category_id = 987654321 WHERE id = ${productId}`);
    expect(error).toMatchObject({ code: FOREIGN_KEY, constraint_name: 'products_category_id_fkey' });
  });

  test('deleting a product that has stock movements', async () => {
    const error = await refusal(async (tx) => {
      await tx`INSERT INTO stock_movements (product_id, delta, reason, quantity_after) VALUES (${productId}, 5, 'initial', 5)`;
      await tx`DELETE FROM products WHERE id = ${productId}`;
    });
    expect(error).toMatchObject({ code: FOREIGN_KEY, constraint_name: 'stock_movements_product_id_fkey' });
  });
});

describe('products accept', () => {
  test('the boundary values: 64-character SKU, 200-character name, 2000-character description, price 0 and 99999999.99', async () => {
    const longSku = `A${'b.c_d-9'.repeat(9)}`;
    expect(longSku.length).toBe(64);
    const rows = await rolledBack(async (tx) => [
      ...(await insertProduct(tx, { sku: longSku, name: 'n'.repeat(200), description: 'd'.repeat(2000), price: 0 })),
      ...(await insertProduct(tx, { sku: '0', name: 'Dearest', price: '99999999.99' })),
    ]);
    expect(rows.map((r) => r.price)).toEqual(['0.00', '99999999.99']);
  });

  test('a SKU or name that only an archived product holds', async () => {
    const [row] = await rolledBack(async (tx) => {
      await tx`UPDATE products SET archived_at = now() WHERE id = ${productId}`;
      return insertProduct(tx, { sku: 'base-001', name: 'base product' });
    });
    expect(row!.id).toBeGreaterThan(productId);
  });

  test('quantity 0 and version 1 when left out', async () => {
    const [row] = await rolledBack(
      (tx) => tx<{ quantity: number; version: number }[]>`
      INSERT INTO products (sku, name, price, category_id) VALUES ('Q-0', 'No Stock', 1, ${categoryId})
      RETURNING quantity, version`,
    );
    expect(row).toEqual({ quantity: 0, version: 1 });
  });
});

describe('prices with more than 2 decimals', () => {
  // numeric(10,2) rounds to 2 decimals, halves away from zero, instead of refusing.
  test.each([
    ['1.005', '1.01'],
    ['1.004', '1.00'],
    ['2.675', '2.68'],
    ['99999999.994', '99999999.99'],
    ['0.001', '0.00'],
  ])('%s is stored as %s', async (given, stored) => {
    const [row] = await rolledBack((tx) => insertProduct(tx, { price: given }));
    expect(row!.price).toBe(stored);
  });

  test('-0.004 rounds to 0.00 and so passes the non-negative check', async () => {
    const [row] = await rolledBack((tx) => insertProduct(tx, { price: '-0.004' }));
    expect(row!.price).toBe('0.00');
  });

  test('-0.005 rounds to -0.01 and is refused as negative', async () => {
    const error = await refusal((tx) => insertProduct(tx, { price: '-0.005' }));
    expect(error).toMatchObject({ code: CHECK, constraint_name: 'products_price_nonnegative' });
  });
});

describe('stock movements refuse', () => {
  const insertMovement = (
    tx: Tx,
    fields: Partial<{ product_id: number; delta: number; reason: string; note: string; quantity_after: number }>,
  ) =>
    tx`INSERT INTO stock_movements ${tx({ product_id: productId, delta: 1, reason: 'received', quantity_after: 6, ...fields })}`;

  test.each([
    ['a delta of 0', { delta: 0 }, 'stock_movements_delta_nonzero'],
    ['an unknown reason', { reason: 'stolen' }, 'stock_movements_reason_known'],
    ['a reason in another case', { reason: 'Received' }, 'stock_movements_reason_known'],
    ['a note of 501 characters', { note: 'n'.repeat(501) }, 'stock_movements_note_length'],
    [
      'a negative quantity_after',
      { delta: -6, reason: 'sold', quantity_after: -1 },
      'stock_movements_quantity_after_nonnegative',
    ],
  ])('%s', async (_, fields, constraint) => {
    const error = await refusal((tx) => insertMovement(tx, fields));
    expect(error).toMatchObject({ code: CHECK, constraint_name: constraint, table_name: 'stock_movements' });
  });

  test('an unknown product', async () => {
    const error = await refusal((tx) => insertMovement(tx, { product_id: 987654321 }));
    expect(error).toMatchObject({ code: FOREIGN_KEY, constraint_name: 'stock_movements_product_id_fkey' });
  });

  test('a null reason', async () => {
    const error = await refusal((tx) => insertMovement(tx, { reason: null as never }));
    expect(error).toMatchObject({ code: NOT_NULL, column_name: 'reason' });
  });

  test('accepts every known reason and a note of 500 characters', async () => {
    const reasons = ['received', 'sold', 'returned', 'damaged', 'count_correction', 'initial'];
    const count = await rolledBack(async (tx) => {
      for (const reason of reasons) await insertMovement(tx, { reason, note: 'n'.repeat(500) });
      const [row] = await tx<{ n: number }[]>`
        SELECT count(*)::int AS n FROM stock_movements WHERE product_id = ${productId} AND char_length(note) = 500`;
      return row!.n;
    });
    expect(count).toBe(reasons.length);
  });
});

describe('the updated_at trigger', () => {
  type Stamp = { updated_at: string; version: number; now: string };
  const PAST = '2020-01-01T00:00:00Z';

  /** A product last written at PAST with version 1, then `update` run on it; its stamp afterwards. */
  const afterUpdate = (update: (tx: Tx, id: number) => Promise<unknown>) =>
    rolledBack(async (tx) => {
      const [p] = await tx<{ id: number }[]>`
        INSERT INTO products (sku, name, price, category_id, created_at, updated_at)
        VALUES ('TRG-1', 'Trigger Probe', 5.00, ${categoryId}, ${PAST}, ${PAST}) RETURNING id`;
      await update(tx, p!.id);
      const [row] = await tx<Stamp[]>`SELECT updated_at, version, now() AS now FROM products WHERE id = ${p!.id}`;
      return row!;
    });

  test('sets updated_at to now() and increments version on an UPDATE that changes the row', async () => {
    const row = await afterUpdate((tx, id) => tx`UPDATE products SET price = 6.00 WHERE id = ${id}`);
    expect(row.updated_at).toBe(row.now);
    expect(row.version).toBe(2);
  });

  test('increments version once per changing UPDATE', async () => {
    const row = await afterUpdate(async (tx, id) => {
      await tx`UPDATE products SET price = 6.00 WHERE id = ${id}`;
      await tx`UPDATE products SET archived_at = now() WHERE id = ${id}`;
      await tx`UPDATE products SET archived_at = NULL WHERE id = ${id}`;
    });
    expect(row.version).toBe(4);
  });

  test('overrides an updated_at and a version the statement sets itself', async () => {
    const row = await afterUpdate(
      (tx, id) => tx`
      UPDATE products SET name = 'Renamed', updated_at = '2000-01-01', version = 42 WHERE id = ${id}`,
    );
    expect(row.updated_at).toBe(row.now);
    expect(row.version).toBe(2);
  });

  test('leaves updated_at and version alone on an UPDATE that changes nothing', async () => {
    const row = await afterUpdate(async (tx, id) => {
      await tx`UPDATE products SET name = name, price = price, version = version WHERE id = ${id}`;
      await tx`UPDATE products SET price = 5 WHERE id = ${id}`; // 5 = 5.00
    });
    expect(row.updated_at).toBe('2020-01-01T00:00:00Z');
    expect(row.version).toBe(1);
  });
});
