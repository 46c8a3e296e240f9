import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, listen, type TestApp } from '../support/app.ts';
import { expectProblem } from '../support/problem.ts';
import type { Product } from '../support/types.ts';
import { json, nextNumber, unique } from '../support/values.ts';
import { documentedFetch } from '../support/contract.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

async function createProduct(body: Record<string, unknown> = {}): Promise<{ product: Product; etag: string }> {
  const res = await t.post('/products', {
    name: unique('Editable'),
    sku: `EDIT-${nextNumber()}`,
    description: 'original',
    price: 10,
    quantity: 5,
    category: 'Editing',
    ...body,
  });
  expect(res.status).toBe(201);
  return { product: await json(res), etag: res.headers.get('etag')! };
}

const patch = (id: number, body: unknown, headers: Record<string, string> = {}) =>
  t.request(`/products/${id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** The product as stored, straight from the table. */
async function stored(id: number) {
  const [row] = await t.db.sql`
    SELECT p.sku, p.name, p.description, p.price::text AS price, p.quantity, c.name AS category, p.version
    FROM products p JOIN categories c ON c.id = p.category_id WHERE p.id = ${id}`;
  return row!;
}

async function categoryCount(name: string): Promise<number> {
  const [row] = await t.db.sql`SELECT count(*)::int AS n FROM categories WHERE lower(name) = lower(${name})`;
  return row!.n;
}

async function refusedPaths(res: Response): Promise<string[]> {
  const body = await expectProblem(res, 422, 'validation_failed');
  return [...new Set<string>(body.errors.map((e: { path: string }) => e.path))].sort();
}

describe('PATCH /products/{id}: merge semantics', () => {
  test('changes only the fields present', async () => {
    const { product } = await createProduct();
    const name = unique('Renamed');
    const res = await patch(product.id, { name });
    expect(res.status).toBe(200);
    const body = await json(res);
    const { updated_at: _, ...unchanged } = product;
    expect(body).toMatchObject({ ...unchanged, name });
    expect(await stored(product.id)).toMatchObject({
      name,
      sku: product.sku,
      description: 'original',
      price: '10.00',
      quantity: 5,
    });
    expect(await json(await t.request(`/products/${product.id}`))).toEqual(body);
  });

  test('changes the SKU, price and description together', async () => {
    const { product } = await createProduct();
    const sku = `NEW-${nextNumber()}`;
    const res = await patch(product.id, { sku, price: '12.50', description: 'better' });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ sku, price: 12.5, description: 'better', name: product.name });
    expect(await stored(product.id)).toMatchObject({ sku, price: '12.50', description: 'better' });
  });

  test('null clears the description', async () => {
    const { product } = await createProduct();
    const res = await patch(product.id, { description: null });
    expect(res.status).toBe(200);
    expect((await json(res)).description).toBeNull();
    expect((await stored(product.id)).description).toBeNull();
  });

  test('a price number is stored exactly', async () => {
    const { product } = await createProduct();
    const res = await patch(product.id, { price: 0.1 });
    expect((await json(res)).price).toBe(0.1);
    expect((await stored(product.id)).price).toBe('0.10');
  });

  test('a new category is created', async () => {
    const { product } = await createProduct();
    const category = unique('Fresh category');
    const res = await patch(product.id, { category });
    expect(res.status).toBe(200);
    expect((await json(res)).category).toBe(category);
    expect(await categoryCount(category)).toBe(1);
    expect((await stored(product.id)).category).toBe(category);
  });

  test('an existing category is matched case-insensitively, keeping its spelling', async () => {
    const existing = unique('Garden Tools');
    await createProduct({ category: existing });
    const { product } = await createProduct();
    const res = await patch(product.id, { category: existing.toUpperCase() });
    expect(res.status).toBe(200);
    expect((await json(res)).category).toBe(existing);
    expect(await categoryCount(existing)).toBe(1);
  });

  test('accepts application/merge-patch+json', async () => {
    const { product } = await createProduct();
    const res = await patch(product.id, { description: 'merged' }, { 'content-type': 'application/merge-patch+json' });
    expect(res.status).toBe(200);
    expect((await json(res)).description).toBe('merged');
    expect((await stored(product.id)).description).toBe('merged');
  });

  test('an empty patch changes nothing', async () => {
    const { product } = await createProduct();
    const before = await stored(product.id);
    const res = await patch(product.id, {});
    expect(res.status).toBe(200);
    expect((await json(res)).name).toBe(product.name);
    expect(await stored(product.id)).toEqual(before);
  });

  test('may take the name and SKU of an archived product', async () => {
    const { product: old } = await createProduct();
    expect((await t.request(`/products/${old.id}`, { method: 'DELETE' })).status).toBe(204);
    const { product } = await createProduct();
    const res = await patch(product.id, { name: old.name, sku: old.sku });
    expect(res.status).toBe(200);
  });
});

describe('PATCH /products/{id}: refused input', () => {
  test('refuses quantity with 422 pointing to stock adjustments, and writes nothing', async () => {
    const { product } = await createProduct();
    const before = await stored(product.id);
    const body = await expectProblem(
      await patch(product.id, { quantity: 99, name: unique('Not applied') }),
      422,
      'validation_failed',
    );
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].path).toBe('quantity');
    expect(body.errors[0].message).toContain('stock-adjustments');
    expect(await stored(product.id)).toEqual(before);
  });

  const cases: [string, unknown, string[]][] = [
    ['an empty name', { name: '   ' }, ['name']],
    ['a null name', { name: null }, ['name']],
    ['a name over 200 characters', { name: 'n'.repeat(201) }, ['name']],
    ['a malformed SKU', { sku: 'has space' }, ['sku']],
    ['a null SKU', { sku: null }, ['sku']],
    ['a price with 3 decimals', { price: 1.234 }, ['price']],
    ['a negative price', { price: -1 }, ['price']],
    ['a null price', { price: null }, ['price']],
    ['a description over 2000 characters', { description: 'd'.repeat(2001) }, ['description']],
    ['an empty category', { category: '' }, ['category']],
    ['an unknown field', { colour: 'red' }, ['colour']],
    ['several bad fields at once', { name: '', price: 'cheap', colour: 1 }, ['colour', 'name', 'price']],
  ];
  test.each(cases)('refuses %s with 422 naming the field, and writes nothing', async (_, body, paths) => {
    const { product } = await createProduct();
    const before = await stored(product.id);
    expect(await refusedPaths(await patch(product.id, body))).toEqual(paths);
    expect(await stored(product.id)).toEqual(before);
  });

  test('refuses a text/plain body with 415 and malformed JSON with 400', async () => {
    const { product } = await createProduct();
    await expectProblem(await patch(product.id, 'name=x', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
    await expectProblem(await patch(product.id, '{"name":'), 400, 'malformed_json');
  });

  test('answers 422 for an id that is not a positive integer', async () => {
    expect(
      await refusedPaths(
        await t.request('/products/abc', {
          method: 'PATCH',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        }),
      ),
    ).toEqual(['id']);
  });
});

describe('PATCH /products/{id}: conflicts', () => {
  test('refuses a SKU taken by another product (any case) with 409 duplicate_sku', async () => {
    const { product: other } = await createProduct();
    const { product } = await createProduct();
    const before = await stored(product.id);
    await expectProblem(await patch(product.id, { sku: other.sku.toLowerCase(), description: 'lost' }), 409, 'duplicate_sku');
    expect(await stored(product.id)).toEqual(before);
  });

  test('refuses a name taken by another product (any case) with 409 duplicate_name', async () => {
    const { product: other } = await createProduct();
    const { product } = await createProduct();
    const before = await stored(product.id);
    await expectProblem(await patch(product.id, { name: other.name.toUpperCase() }), 409, 'duplicate_name');
    expect(await stored(product.id)).toEqual(before);
  });

  test('answers 404 for an unknown or archived product', async () => {
    await expectProblem(await patch(987654321, { name: unique('Nobody') }), 404, 'not_found');
    const { product } = await createProduct();
    expect((await t.request(`/products/${product.id}`, { method: 'DELETE' })).status).toBe(204);
    await expectProblem(await patch(product.id, { name: unique('Ghost') }), 404, 'not_found');
    await expectProblem(await patch(product.id, { name: unique('Ghost') }, { 'if-match': '*' }), 404, 'not_found');
  });

  test.each([
    [
      'a stale If-Match',
      async (id: number, etag: string) => {
        expect((await patch(id, { description: 'moved on' })).status).toBe(200);
        return patch(id, { category: unique('Orphan A') }, { 'if-match': etag });
      },
      412,
    ],
    [
      'a taken SKU',
      async (id: number) => {
        const { product: other } = await createProduct();
        return patch(id, { category: unique('Orphan B'), sku: other.sku });
      },
      409,
    ],
    [
      'a taken name',
      async (id: number) => {
        const { product: other } = await createProduct();
        return patch(id, { name: other.name, category: unique('Orphan C') });
      },
      409,
    ],
    [
      'an archived product',
      async (id: number) => {
        expect((await t.request(`/products/${id}`, { method: 'DELETE' })).status).toBe(204);
        return patch(id, { category: unique('Orphan D') });
      },
      404,
    ],
  ] as const)('a PATCH refused for %s does not leave its new category behind', async (_, send, status) => {
    const { product, etag } = await createProduct();
    const res = await send(product.id, etag);
    expect(res.status).toBe(status);
    const [orphans] = await t.db.sql`SELECT count(*)::int AS n FROM categories WHERE name LIKE 'Orphan %'`;
    expect(orphans!.n).toBe(0);
  });
});

describe('PATCH /products/{id}: ETags and If-Match', () => {
  test('every write gives the product a new ETag, and GET shows the current one', async () => {
    const { product, etag: created } = await createProduct();
    const tags = [created];
    const current = async () => (await t.request(`/products/${product.id}`)).headers.get('etag');
    expect(await current()).toBe(created);

    const patched = await patch(product.id, { price: 11 });
    tags.push(patched.headers.get('etag')!);
    expect(await current()).toBe(tags.at(-1)!);

    const adjusted = await t.post(`/products/${product.id}/stock-adjustments`, { delta: 2, reason: 'received' });
    tags.push(adjusted.headers.get('etag')!);
    expect(await current()).toBe(tags.at(-1)!);

    expect((await t.request(`/products/${product.id}`, { method: 'DELETE' })).status).toBe(204);
    const restored = await t.request(`/products/${product.id}/restore`, { method: 'POST' });
    expect(restored.status).toBe(200);
    tags.push(restored.headers.get('etag')!);
    expect(await current()).toBe(tags.at(-1)!);

    for (const tag of tags) expect(tag).toMatch(/^(W\/)?"[^"]+"$/);
    expect(new Set(tags).size).toBe(tags.length);
  });

  test('If-Match with the current ETag succeeds and returns the next one', async () => {
    const { product, etag } = await createProduct();
    const res = await patch(product.id, { description: 'conditional' }, { 'if-match': etag });
    expect(res.status).toBe(200);
    const next = res.headers.get('etag')!;
    expect(next).not.toBe(etag);
    expect((await patch(product.id, { description: 'again' }, { 'if-match': next })).status).toBe(200);
  });

  test('If-Match with a stale ETag is refused with 412 and writes nothing', async () => {
    const { product, etag } = await createProduct();
    expect((await patch(product.id, { description: 'first' })).status).toBe(200);
    const before = await stored(product.id);
    await expectProblem(await patch(product.id, { description: 'second' }, { 'if-match': etag }), 412, 'precondition_failed');
    expect(await stored(product.id)).toEqual(before);
  });

  test('a stock adjustment makes an earlier ETag stale', async () => {
    const { product, etag } = await createProduct();
    expect((await t.post(`/products/${product.id}/stock-adjustments`, { delta: -1, reason: 'sold' })).status).toBe(201);
    await expectProblem(await patch(product.id, { price: 1 }, { 'if-match': etag }), 412, 'precondition_failed');
    expect((await stored(product.id)).price).toBe('10.00');
  });

  test('If-Match "*" matches any version', async () => {
    const { product } = await createProduct();
    expect((await patch(product.id, { description: 'one' })).status).toBe(200);
    const res = await patch(product.id, { description: 'star' }, { 'if-match': '*' });
    expect(res.status).toBe(200);
    expect((await stored(product.id)).description).toBe('star');
  });

  test('If-Match that names no version of ours is refused with 412', async () => {
    const { product } = await createProduct();
    const before = await stored(product.id);
    await expectProblem(await patch(product.id, { description: 'x' }, { 'if-match': 'not-an-etag' }), 412, 'precondition_failed');
    expect(await stored(product.id)).toEqual(before);
  });

  test('If-Match with a list of ETags succeeds when one of them is current', async () => {
    const { product, etag } = await createProduct();
    const res = await patch(product.id, { description: 'listed' }, { 'if-match': `"999", ${etag}` });
    expect(res.status).toBe(200);
    expect((await stored(product.id)).description).toBe('listed');
  });

  test('If-Match compares strongly: the current version as a weak tag is refused with 412', async () => {
    const { product, etag } = await createProduct();
    const before = await stored(product.id);
    await expectProblem(
      await patch(product.id, { description: 'weak' }, { 'if-match': `W/${etag}` }),
      412,
      'precondition_failed',
    );
    expect(await stored(product.id)).toEqual(before);
  });

  test('If-Match compares exactly: another spelling of the current version ("01" for "1") is refused with 412', async () => {
    const { product, etag } = await createProduct();
    expect(etag).toBe('"1-5"');
    const before = await stored(product.id);
    for (const tag of ['"01"', '"001"', '"01", "0"', '"01-5"', '"1-05"', '"1-"']) {
      await expectProblem(await patch(product.id, { description: tag }, { 'if-match': tag }), 412, 'precondition_failed');
      await expectProblem(
        await t.request(`/products/${product.id}`, { method: 'DELETE', headers: { 'if-match': tag } }),
        412,
        'precondition_failed',
      );
    }
    expect(await stored(product.id)).toEqual(before);
    expect((await patch(product.id, { description: 'exact' }, { 'if-match': etag })).status).toBe(200);
  });

  test('two clients editing from the same ETag: exactly one wins, the other gets 412', async () => {
    const { product, etag } = await createProduct();
    const server = listen(t.app);
    let results: { status: number; body: any }[];
    try {
      results = await Promise.all(
        ['Alice', 'Bob'].map(async (who) => {
          const res = await documentedFetch(`${server.base}/products/${product.id}`, {
            method: 'PATCH',
            headers: { 'content-type': 'application/json', 'if-match': etag },
            body: JSON.stringify({ description: `edited by ${who}` }),
          });
          return { status: res.status, body: await json(res) };
        }),
      );
    } finally {
      server.stop();
    }
    expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
    const winner = results.find((r) => r.status === 200)!;
    expect(results.find((r) => r.status === 412)!.body.code).toBe('precondition_failed');
    expect((await stored(product.id)).description).toBe(winner.body.description);
  });
});
