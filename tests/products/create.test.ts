import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import type { Product } from '../support/types.ts';
import { unique } from '../support/values.ts';

const SKU_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const PRODUCT_KEYS = ['id', 'sku', 'name', 'description', 'price', 'quantity', 'category', 'created_at', 'updated_at'];

type Problem = { code: string; errors: { path: string; message: string }[] };

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

async function created(res: Response): Promise<Product> {
  expect(res.status).toBe(201);
  expect(res.headers.get('content-type')).toStartWith('application/json');
  const body = (await res.json()) as Product;
  for (const key of PRODUCT_KEYS) expect(body).toHaveProperty(key);
  return body;
}

/** A 422 problem; returns the distinct paths its errors name, sorted. */
async function refusedPaths(res: Response): Promise<string[]> {
  expect(res.status).toBe(422);
  expect(res.headers.get('content-type')).toStartWith('application/problem+json');
  const body = (await res.json()) as Problem;
  expect(body.code).toBe('validation_failed');
  expect(Array.isArray(body.errors)).toBe(true);
  for (const e of body.errors) expect(e).toEqual({ path: expect.any(String), message: expect.any(String) });
  return [...new Set(body.errors.map((e) => e.path))].sort();
}

async function countProductsNamed(name: string): Promise<number> {
  const [row] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM products WHERE lower(name) = lower(${name})`;
  return row!.n;
}

describe('POST /products: happy path', () => {
  test('answers 201 with the stored product and a Location header that serves it', async () => {
    const name = unique('Lamp');
    const res = await t.post('/products', {
      name,
      sku: 'LAMP-001',
      description: 'Brass desk lamp',
      price: 19.99,
      quantity: 7,
      category: 'Lighting',
    });
    const body = await created(res);
    expect(body).toMatchObject({
      sku: 'LAMP-001',
      name,
      description: 'Brass desk lamp',
      price: 19.99,
      quantity: 7,
      category: 'Lighting',
    });
    expect(Number.isSafeInteger(body.id) && body.id > 0).toBe(true);
    expect(res.headers.get('location')).toBe(`/products/${body.id}`);

    const fetched = await t.request(res.headers.get('location')!);
    expect(fetched.status).toBe(200);
    expect(await fetched.json()).toEqual(body);

    const [row] = await t.db.sql`
      SELECT p.sku, p.name, p.description, p.price::text AS price, p.quantity, c.name AS category
      FROM products p JOIN categories c ON c.id = p.category_id WHERE p.id = ${body.id}`;
    expect(row).toEqual({
      sku: 'LAMP-001',
      name,
      description: 'Brass desk lamp',
      price: '19.99',
      quantity: 7,
      category: 'Lighting',
    });
  });

  test('returns created_at and updated_at as RFC 3339 UTC strings ending in Z', async () => {
    const before = Date.now();
    const body = await created(await t.post('/products', { name: unique('Clock'), price: 1 }));
    for (const field of ['created_at', 'updated_at'] as const) {
      expect(body[field]).toMatch(RFC3339_UTC);
      expect(Math.abs(Date.parse(body[field]) - before)).toBeLessThan(60_000);
    }
    expect(body.updated_at).toBe(body.created_at);
  });

  test('trims the name', async () => {
    const name = unique('Trimmed');
    const body = await created(await t.post('/products', { name: `  ${name}\t `, price: 1 }));
    expect(body.name).toBe(name);
    expect(await countProductsNamed(name)).toBe(1);
  });

  test('returns 19.99 exactly as 19.99 and the string "5" as the number 5', async () => {
    const a = await t.post('/products', { name: unique('Price A'), price: 19.99 });
    expect(a.status).toBe(201);
    expect(await a.text()).toContain('"price":19.99,');
    const b = await created(await t.post('/products', { name: unique('Price B'), price: '5' }));
    expect(b.price).toBe(5);
    const c = await created(await t.post('/products', { name: unique('Price C'), price: '0.10' }));
    expect(c.price).toBe(0.1);
  });

  test('accepts the bounds of the price range, 0 and 99999999.99', async () => {
    const top = await created(await t.post('/products', { name: unique('Top'), price: 99999999.99 }));
    expect(top.price).toBe(99999999.99);
    const topText = await created(await t.post('/products', { name: unique('Top text'), price: '99999999.99' }));
    expect(topText.price).toBe(99999999.99);
    const free = await created(await t.post('/products', { name: unique('Free'), price: 0 }));
    expect(free.price).toBe(0);
  });

  test('assigns a distinct SKU matching the SKU pattern when none is sent', async () => {
    const a = await created(await t.post('/products', { name: unique('No SKU'), price: 1 }));
    const b = await created(await t.post('/products', { name: unique('No SKU'), price: 1 }));
    expect(a.sku).toMatch(SKU_PATTERN);
    expect(b.sku).toMatch(SKU_PATTERN);
    expect(a.sku.toLowerCase()).not.toBe(b.sku.toLowerCase());
  });

  test('defaults quantity to 0, description to null and category to "Uncategorized"', async () => {
    const body = await created(await t.post('/products', { name: unique('Bare'), price: 3 }));
    expect(body).toMatchObject({ quantity: 0, description: null, category: 'Uncategorized' });
  });

  test('accepts a null description and one of exactly 2000 characters', async () => {
    const none = await created(await t.post('/products', { name: unique('Null desc'), price: 1, description: null }));
    expect(none.description).toBeNull();
    const long = 'd'.repeat(2000);
    const full = await created(await t.post('/products', { name: unique('Long desc'), price: 1, description: long }));
    expect(full.description).toBe(long);
  });

  test('accepts one-character and 64-character SKUs of letters, digits, dot, dash and underscore', async () => {
    for (const sku of ['Z', `A${'b.-_9'.repeat(12)}xyz`]) {
      const body = await created(await t.post('/products', { name: unique('SKU'), price: 1, sku }));
      expect(body.sku).toBe(sku);
    }
  });

  test('accepts a large quantity', async () => {
    const body = await created(await t.post('/products', { name: unique('Many'), price: 1, quantity: 2147483647 }));
    expect(body.quantity).toBe(2147483647);
  });

  test('uses an existing category whatever the case and returns its stored name', async () => {
    const made = await t.post('/categories', { name: 'Electronics' });
    expect(made.status).toBe(201);
    const body = await created(await t.post('/products', { name: unique('Mouse'), price: 9.5, category: 'electronics' }));
    expect(body.category).toBe('Electronics');
    const again = await created(await t.post('/products', { name: unique('Cable'), price: 2, category: 'ELECTRONICS' }));
    expect(again.category).toBe('Electronics');
    const rows = await t.db.sql`SELECT name FROM categories WHERE lower(name) = 'electronics'`;
    expect(rows.map((r) => r.name)).toEqual(['Electronics']);
  });

  test('creates a category that does not exist yet, with the name as sent', async () => {
    const body = await created(await t.post('/products', { name: unique('Trowel'), price: 4, category: 'Garden Tools' }));
    expect(body.category).toBe('Garden Tools');
    const [row] = await t.db.sql`
      SELECT c.name FROM products p JOIN categories c ON c.id = p.category_id WHERE p.id = ${body.id}`;
    expect(row!.name).toBe('Garden Tools');
  });

  test('creates no category when the product in it is refused (one transaction)', async () => {
    await created(await t.post('/products', { name: unique('Original'), price: 1, sku: 'TXN-SKU-1' }));
    const res = await t.post('/products', { name: unique('Clash'), price: 1, sku: 'TXN-SKU-1', category: 'Never Created' });
    expect(res.status).toBe(409);
    expect(((await res.json()) as Problem).code).toBe('duplicate_sku');
    const rows = await t.db.sql`SELECT id FROM categories WHERE lower(name) = 'never created'`;
    expect(rows.length).toBe(0);
  });

  test('answers POST /products/ with a trailing slash like POST /products', async () => {
    const res = await t.post('/products/', { name: unique('Slash'), price: 1 });
    const body = await created(res);
    expect(res.headers.get('location')).toBe(`/products/${body.id}`);
  });
});

describe('POST /products: the three seed clients', () => {
  test('client 1 (name, description, price, category) creates its product', async () => {
    const sent = {
      name: 'Wireless Optical Mouse',
      description: '2.4 GHz receiver, 1600 DPI',
      price: 19.9,
      category: 'Peripherals',
    };
    const body = await created(await t.post('/products', sent));
    expect(body).toMatchObject({ ...sent, quantity: 0 });
    expect(body.sku).toMatch(SKU_PATTERN);
  });

  test('client 2 (name, sku, price, quantity) creates its product', async () => {
    const sent = { name: 'A4 Copy Paper', sku: 'OFF-A4-PAPER-500', price: '6.49', quantity: 400 };
    const body = await created(await t.post('/products', sent));
    expect(body).toMatchObject({ ...sent, price: 6.49, description: null, category: 'Uncategorized' });
  });

  test('client 3 (every field) creates its product', async () => {
    const sent = {
      name: 'Cast Iron Skillet',
      sku: 'HOME-CAST-SKLT-10',
      description: 'Pre-seasoned, oven safe',
      price: 32,
      quantity: 22,
      category: 'Home & Kitchen',
    };
    const body = await created(await t.post('/products', sent));
    expect(body).toMatchObject(sent);
  });
});

describe('POST /products: refused input', () => {
  test('refuses a body without name and price, naming both', async () => {
    expect(await refusedPaths(await t.post('/products', {}))).toEqual(['name', 'price']);
  });

  test.each([
    ['empty', ''],
    ['only spaces', '   '],
    ['a number', 42],
    ['null', null],
    ['201 characters', 'n'.repeat(201)],
  ])('refuses a name that is %s', async (_, name) => {
    expect(await refusedPaths(await t.post('/products', { name, price: 1 }))).toEqual(['name']);
  });

  test.each([
    ['100000000 (above the maximum)', 100000000],
    ['99999999.991', 99999999.991],
    ['-1', -1],
    ['1.234 (three decimals)', 1.234],
    ['"1e3" (exponent)', '1e3'],
    ['"1.234"', '1.234'],
    ['"-1"', '-1'],
    ['"100000000"', '100000000'],
    ['"abc"', 'abc'],
    ['""', ''],
    ['true', true],
    ['null', null],
  ])('refuses the price %s and writes nothing', async (_, price) => {
    const name = unique('Bad price');
    expect(await refusedPaths(await t.post('/products', { name, price }))).toEqual(['price']);
    expect(await countProductsNamed(name)).toBe(0);
  });

  test.each([
    ['starting with a dash', '-ABC'],
    ['starting with a dot', '.ABC'],
    ['with a space', 'AB C'],
    ['with a slash', 'AB/C'],
    ['with a non-ASCII letter', 'ÄBC'],
    ['empty', ''],
    ['of 65 characters', 'S'.repeat(65)],
    ['that is not a string', 12345],
  ])('refuses a SKU %s', async (_, sku) => {
    expect(await refusedPaths(await t.post('/products', { name: unique('Bad SKU'), price: 1, sku }))).toEqual(['sku']);
  });

  test.each([
    ['of 2001 characters', 'd'.repeat(2001)],
    ['that is a number', 5],
  ])('refuses a description %s', async (_, description) => {
    const paths = await refusedPaths(await t.post('/products', { name: unique('Bad desc'), price: 1, description }));
    expect(paths).toEqual(['description']);
  });

  test.each([
    ['-1', -1],
    ['1.5', 1.5],
    ['"3" (a string)', '3'],
    ['null', null],
    ['2147483648', 2147483648],
  ])('refuses the quantity %s', async (_, quantity) => {
    expect(await refusedPaths(await t.post('/products', { name: unique('Bad qty'), price: 1, quantity }))).toEqual(['quantity']);
  });

  test.each([
    ['empty', ''],
    ['only spaces', '  '],
    ['a number', 7],
    ['101 characters', 'c'.repeat(101)],
  ])('refuses a category that is %s', async (_, category) => {
    expect(await refusedPaths(await t.post('/products', { name: unique('Bad cat'), price: 1, category }))).toEqual(['category']);
  });

  test('refuses unknown fields, naming each, and writes nothing', async () => {
    const name = unique('Extra');
    const paths = await refusedPaths(await t.post('/products', { name, price: 1, colour: 'red', weight: 3 }));
    expect(paths).toEqual(['colour', 'weight']);
    expect(await countProductsNamed(name)).toBe(0);
  });

  test('refuses a field sent as id, which the service assigns', async () => {
    expect(await refusedPaths(await t.post('/products', { id: 999, name: unique('With id'), price: 1 }))).toEqual(['id']);
  });
});

describe('GET /products/{id}', () => {
  test('returns the product exactly as POST returned it', async () => {
    const body = await created(await t.post('/products', { name: unique('Fetched'), price: '12.30', category: 'Lighting' }));
    const res = await t.request(`/products/${body.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(body);
  });

  test('answers /products/{id}/ with a trailing slash too', async () => {
    const body = await created(await t.post('/products', { name: unique('Slash get'), price: 1 }));
    const res = await t.request(`/products/${body.id}/`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Product).id).toBe(body.id);
  });

  test('answers 404 not_found for an id no product has', async () => {
    const res = await t.request('/products/987654321');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toStartWith('application/problem+json');
    expect(((await res.json()) as Problem).code).toBe('not_found');
  });

  test.each(['abc', '0', '-1', '1.5', '99999999999999999999'])('refuses the id "%s" with 422 naming id', async (id) => {
    expect(await refusedPaths(await t.request(`/products/${id}`))).toEqual(['id']);
  });
});
