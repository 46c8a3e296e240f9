import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import { expectProblem } from '../support/problem.ts';
import type { Product } from '../support/types.ts';
import { json, nextNumber, unique } from '../support/values.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

async function createProduct(body: Record<string, unknown> = {}): Promise<{ product: Product; etag: string }> {
  const res = await t.post('/products', {
    name: unique('Archivable'),
    sku: `ARCH-${nextNumber()}`,
    price: 3,
    quantity: 4,
    category: 'Archive',
    ...body,
  });
  expect(res.status).toBe(201);
  return { product: await json(res), etag: res.headers.get('etag')! };
}

const archive = (id: number, headers: Record<string, string> = {}) => t.request(`/products/${id}`, { method: 'DELETE', headers });
const restore = (id: number) => t.request(`/products/${id}/restore`, { method: 'POST' });

/** Every product id a listing shows, following its Link rel="next" pages. */
async function listedIds(query: string): Promise<number[]> {
  const ids: number[] = [];
  let next: string | null = `/products?limit=1000&${query}`;
  for (let pages = 0; next; pages++) {
    expect(pages).toBeLessThan(20);
    const res = await t.request(next);
    expect(res.status).toBe(200);
    ids.push(...((await json(res)) as Product[]).map((p) => p.id));
    next = /^<([^>]+)>/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
  }
  return ids;
}

async function categoryListing(name: string) {
  const all = (await json(await t.request('/categories'))) as { id: number; name: string; product_count: number }[];
  return all.find((c) => c.name === name);
}

async function archivedAt(id: number) {
  const [row] = await t.db.sql`SELECT archived_at FROM products WHERE id = ${id}`;
  return row?.archived_at ?? null;
}

describe('DELETE /products/{id}: archive', () => {
  test('answers 204 with no body and the product disappears from lookups and listings', async () => {
    const category = unique('Shelf');
    const { product } = await createProduct({ category });
    const { product: neighbour } = await createProduct({ category });
    expect((await categoryListing(category))!.product_count).toBe(2);

    const res = await archive(product.id);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');

    await expectProblem(await t.request(`/products/${product.id}`), 404, 'not_found');
    expect(await listedIds('')).not.toContain(product.id);
    expect(await listedIds(`category=${encodeURIComponent(category)}`)).toEqual([neighbour.id]);
    expect(await listedIds(`sku=${product.sku}`)).toEqual([]);
    expect((await categoryListing(category))!.product_count).toBe(1);
    expect(await listedIds('archived=true')).toContain(product.id);
    expect(await archivedAt(product.id)).not.toBeNull();
  });

  test("keeps the product's stock movements", async () => {
    const { product } = await createProduct({ quantity: 9 });
    expect((await t.post(`/products/${product.id}/stock-adjustments`, { delta: -2, reason: 'sold' })).status).toBe(201);
    const before = await t.db
      .sql`SELECT id, delta, quantity_after FROM stock_movements WHERE product_id = ${product.id} ORDER BY id`;
    expect(before.length).toBe(2);
    expect((await archive(product.id)).status).toBe(204);
    const after = await t.db
      .sql`SELECT id, delta, quantity_after FROM stock_movements WHERE product_id = ${product.id} ORDER BY id`;
    expect(after).toEqual(before);
    const [row] = await t.db.sql`SELECT quantity FROM products WHERE id = ${product.id}`;
    expect(row!.quantity).toBe(7);
  });

  test('frees the name and SKU: a new product may take them, in any case', async () => {
    const { product } = await createProduct();
    expect((await archive(product.id)).status).toBe(204);
    const res = await t.post('/products', { name: product.name.toUpperCase(), sku: product.sku.toLowerCase(), price: 1 });
    expect(res.status).toBe(201);
    const again = await t.post('/products', { name: product.name, sku: product.sku, price: 1 });
    expect(again.status).toBe(409);
  });

  test('refuses stock adjustments on the archived product with 404', async () => {
    const { product } = await createProduct();
    expect((await archive(product.id)).status).toBe(204);
    await expectProblem(
      await t.post(`/products/${product.id}/stock-adjustments`, { delta: 1, reason: 'received' }),
      404,
      'not_found',
    );
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM stock_movements WHERE product_id = ${product.id}`;
    expect(row!.n).toBe(1);
  });

  test('answers 404 when archiving again or archiving an unknown product', async () => {
    const { product } = await createProduct();
    expect((await archive(product.id)).status).toBe(204);
    const first = await archivedAt(product.id);
    await expectProblem(await archive(product.id), 404, 'not_found');
    expect(await archivedAt(product.id)).toEqual(first);
    await expectProblem(await archive(987654321), 404, 'not_found');
  });

  test('refuses a stale If-Match with 412 and keeps the product', async () => {
    const { product, etag } = await createProduct();
    expect((await t.post(`/products/${product.id}/stock-adjustments`, { delta: 1, reason: 'received' })).status).toBe(201);
    await expectProblem(await archive(product.id, { 'if-match': etag }), 412, 'precondition_failed');
    expect(await archivedAt(product.id)).toBeNull();
    expect((await t.request(`/products/${product.id}`)).status).toBe(200);
  });

  test('archives with the current If-Match or "*"', async () => {
    const { product: a } = await createProduct();
    const current = (await t.request(`/products/${a.id}`)).headers.get('etag')!;
    expect((await archive(a.id, { 'if-match': current })).status).toBe(204);
    const { product: b } = await createProduct();
    expect((await archive(b.id, { 'if-match': '*' })).status).toBe(204);
    expect(await archivedAt(a.id)).not.toBeNull();
    expect(await archivedAt(b.id)).not.toBeNull();
  });
});

describe('POST /products/{id}/restore', () => {
  test('answers 200 with the product and its ETag, back in lookups and listings with its stock', async () => {
    const category = unique('Returns');
    const { product } = await createProduct({ category, quantity: 6 });
    expect((await archive(product.id)).status).toBe(204);

    const res = await restore(product.id);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ id: product.id, name: product.name, sku: product.sku, quantity: 6, category });
    const fetched = await t.request(`/products/${product.id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get('etag')).toBe(res.headers.get('etag'));
    expect(await listedIds(`category=${encodeURIComponent(category)}`)).toEqual([product.id]);
    expect(await listedIds('archived=true')).not.toContain(product.id);
    expect((await categoryListing(category))!.product_count).toBe(1);
    expect((await t.post(`/products/${product.id}/stock-adjustments`, { delta: -6, reason: 'sold' })).status).toBe(201);
  });

  test('answers 409 duplicate_name when its name was taken since, and stays archived', async () => {
    const { product } = await createProduct();
    expect((await archive(product.id)).status).toBe(204);
    expect((await t.post('/products', { name: product.name, price: 1 })).status).toBe(201);
    await expectProblem(await restore(product.id), 409, 'duplicate_name');
    expect(await archivedAt(product.id)).not.toBeNull();
  });

  test('answers 409 duplicate_sku when its SKU was taken since, and stays archived', async () => {
    const { product } = await createProduct();
    expect((await archive(product.id)).status).toBe(204);
    expect((await t.post('/products', { name: unique('Usurper'), sku: product.sku, price: 1 })).status).toBe(201);
    await expectProblem(await restore(product.id), 409, 'duplicate_sku');
    expect(await archivedAt(product.id)).not.toBeNull();
  });

  test('answers 404 for a product that is not archived, or unknown', async () => {
    const { product } = await createProduct();
    await expectProblem(await restore(product.id), 404, 'not_found');
    await expectProblem(await restore(987654321), 404, 'not_found');
  });
});

describe('DELETE /categories/{id}', () => {
  async function createCategory(): Promise<{ id: number; name: string }> {
    const res = await t.post('/categories', { name: unique('Bin') });
    expect(res.status).toBe(201);
    return json(res);
  }
  const removeCategory = (id: number) => t.request(`/categories/${id}`, { method: 'DELETE' });

  test('deletes an empty category with 204', async () => {
    const category = await createCategory();
    const res = await removeCategory(category.id);
    expect(res.status).toBe(204);
    expect(await categoryListing(category.name)).toBeUndefined();
    await expectProblem(await removeCategory(category.id), 404, 'not_found');
  });

  test('refuses a category with products with 409 category_not_empty', async () => {
    const category = await createCategory();
    await createProduct({ category: category.name });
    await expectProblem(await removeCategory(category.id), 409, 'category_not_empty');
    expect(await categoryListing(category.name)).toBeDefined();
  });

  test('refuses a category whose only products are archived with 409 category_not_empty', async () => {
    const category = await createCategory();
    const { product } = await createProduct({ category: category.name });
    expect((await archive(product.id)).status).toBe(204);
    expect((await categoryListing(category.name))!.product_count).toBe(0);
    await expectProblem(await removeCategory(category.id), 409, 'category_not_empty');
    expect(await categoryListing(category.name)).toBeDefined();
  });

  test('answers 404 for an unknown category', async () => {
    await expectProblem(await removeCategory(987654321), 404, 'not_found');
  });
});
