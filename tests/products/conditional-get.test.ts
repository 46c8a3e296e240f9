/**
 * Conditional reads: a product's ETag names its representation ("<version>-<available>"), a
 * listing page's is weak; If-None-Match naming the current one answers 304 with no body, and
 * anything that changes what would be sent (a write, a reservation) gives a new tag.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import type { Product } from '../support/types.ts';
import { json, nextNumber, unique } from '../support/values.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

const CATEGORY = `Conditional ${nextNumber()}`;

async function createProduct(body: Record<string, unknown> = {}): Promise<Product> {
  const res = await t.post('/products', {
    name: unique('Conditional'),
    sku: `COND-${nextNumber()}`,
    price: 4,
    quantity: 10,
    category: CATEGORY,
    ...body,
  });
  expect(res.status).toBe(201);
  return json(res);
}

const get = (path: string, ifNoneMatch?: string) =>
  t.request(path, ifNoneMatch === undefined ? {} : { headers: { 'if-none-match': ifNoneMatch } });

describe('GET /products/{id} with If-None-Match', () => {
  test('the ETag names version and available; naming it (or W/ it, or *) is 304 with no body and the same ETag', async () => {
    const product = await createProduct();
    const first = await get(`/products/${product.id}`);
    expect(first.status).toBe(200);
    const tag = first.headers.get('etag')!;
    expect(tag).toBe(`"1-${product.available}"`);
    for (const header of [tag, `W/${tag}`, '*', `"other", ${tag}`]) {
      const again = await get(`/products/${product.id}`, header);
      expect(again.status).toBe(304);
      expect(again.headers.get('etag')).toBe(tag);
      expect(await again.text()).toBe('');
    }
    const other = await get(`/products/${product.id}`, '"1-0"');
    expect(other.status).toBe(200);
    expect(await json(other)).toEqual(product);
  });

  test('a stock change, an edit and a reservation each give a new ETag, and the old one a 200 with the new body', async () => {
    const product = await createProduct();
    const seen = [(await get(`/products/${product.id}`)).headers.get('etag')!];
    const changes = [
      () => t.post(`/products/${product.id}/stock-adjustments`, { delta: -1, reason: 'sold' }),
      () =>
        t.request(`/products/${product.id}`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ price: 5 }),
        }),
      // A reservation changes available, not the product's row version.
      () => t.post('/reservations', { product: product.id, quantity: 2, expires_in_s: 600 }),
    ];
    for (const change of changes) {
      expect((await change()).status).toBeLessThan(300);
      const stale = await get(`/products/${product.id}`, seen.at(-1));
      expect(stale.status).toBe(200);
      const body = (await json(stale)) as Product;
      const tag = stale.headers.get('etag')!;
      expect(tag).toBe(
        `"${(await t.db.sql`SELECT version FROM products WHERE id = ${product.id}`)[0]!.version}-${body.available}"`,
      );
      expect(seen).not.toContain(tag);
      seen.push(tag);
      expect((await get(`/products/${product.id}`, tag)).status).toBe(304);
    }
  });

  test('a missing product is 404 whatever If-None-Match says', async () => {
    expect((await get('/products/999999999', '*')).status).toBe(404);
  });
});

describe('GET /products with If-None-Match', () => {
  const page = `/products?category=${encodeURIComponent(CATEGORY)}&limit=3`;

  test('a page has a weak ETag; naming it is 304 with no body, its Link kept', async () => {
    for (let i = 0; i < 4; i++) await createProduct();
    const first = await get(page);
    expect(first.status).toBe(200);
    const tag = first.headers.get('etag')!;
    expect(tag).toMatch(/^W\/"[0-9a-z]+"$/);
    expect(first.headers.get('link')).toContain('rel="next"');
    const again = await get(page, tag);
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(tag);
    expect(again.headers.get('link')).toBe(first.headers.get('link'));
    expect(await again.text()).toBe('');
  });

  test('a change to a product on the page, or a reservation of one, gives the page a new ETag; one elsewhere does not', async () => {
    const before = await get(page);
    const tag = before.headers.get('etag')!;
    const rows = (await json(before)) as Product[];
    // Elsewhere: another category.
    await t.post('/products', { name: unique('Elsewhere'), price: 1, quantity: 1, category: `${CATEGORY} other` });
    expect((await get(page, tag)).status).toBe(304);

    expect((await t.post('/reservations', { product: rows[0]!.id, quantity: 1, expires_in_s: 600 })).status).toBe(201);
    const reserved = await get(page, tag);
    expect(reserved.status).toBe(200);
    const afterReservation = reserved.headers.get('etag')!;
    expect(afterReservation).not.toBe(tag);

    const patched = await t.request(`/products/${rows[1]!.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ description: 'changed' }),
    });
    expect(patched.status).toBe(200);
    const edited = await get(page, afterReservation);
    expect(edited.status).toBe(200);
    expect(edited.headers.get('etag')).not.toBe(afterReservation);
  });
});

describe('If-Match after the ETag names available too', () => {
  test('the ETag as sent, or the version alone, lets an edit through; a reservation since does not refuse it; an edit since does', async () => {
    const product = await createProduct();
    const tag = (await get(`/products/${product.id}`)).headers.get('etag')!;
    expect((await t.post('/reservations', { product: product.id, quantity: 1, expires_in_s: 600 })).status).toBe(201);
    const edit = (ifMatch: string, description: string) =>
      t.request(`/products/${product.id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', 'if-match': ifMatch },
        body: JSON.stringify({ description }),
      });
    const first = await edit(tag, 'one');
    expect(first.status).toBe(200);
    expect((await edit('"2"', 'two')).status).toBe(200);
    expect((await edit(tag, 'stale')).status).toBe(412);
    expect((await edit('"3-x"', 'malformed')).status).toBe(412);
  });
});
