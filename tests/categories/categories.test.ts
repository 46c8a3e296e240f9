import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import { expectProblem } from '../support/problem.ts';
import type { Category } from '../support/types.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

async function listCategories(path = '/categories'): Promise<Category[]> {
  const res = await t.request(path);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toStartWith('application/json');
  return (await res.json()) as Category[];
}

async function categoryRows(name: string) {
  return t.db.sql<{ name: string }[]>`SELECT name FROM categories WHERE lower(name) = lower(${name})`;
}

describe('POST /categories: happy path', () => {
  test('answers 201 with the stored category and no products', async () => {
    const res = await t.post('/categories', { name: 'Garden', description: 'Plants and tools' });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Category;
    expect(body).toEqual({
      id: expect.any(Number),
      name: 'Garden',
      description: 'Plants and tools',
      product_count: 0,
      created_at: expect.any(String),
    });
    expect(body.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    const [row] = await t.db.sql`SELECT id, description FROM categories WHERE name = 'Garden'`;
    expect(row).toEqual({ id: body.id, description: 'Plants and tools' });
  });

  test('stores a category sent without description with description null', async () => {
    const res = await t.post('/categories', { name: 'Bare' });
    expect(res.status).toBe(201);
    expect(((await res.json()) as Category).description).toBeNull();
  });

  test('trims the name', async () => {
    const res = await t.post('/categories', { name: '  Spaced Out ' });
    expect(res.status).toBe(201);
    expect(((await res.json()) as Category).name).toBe('Spaced Out');
  });

  test('answers POST /categories/ with a trailing slash', async () => {
    expect((await t.post('/categories/', { name: 'Slashed' })).status).toBe(201);
  });
});

describe('GET /categories', () => {
  test('lists every category ordered by name case-insensitively, with its product count', async () => {
    for (const name of ['banana', 'Apple', 'cherry', 'Date']) {
      expect((await t.post('/categories', { name })).status).toBe(201);
    }
    for (const [name, category] of [
      ['Apple pie', 'apple'],
      ['Apple tart', 'APPLE'],
      ['Cherry jam', 'Cherry'],
    ]) {
      expect((await t.post('/products', { name, price: 3, category })).status).toBe(201);
    }
    const list = await listCategories();
    const names = list.map((c) => c.name);
    expect(names).toEqual([...names].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1)));
    // Byte order would put the capitalised names first: the listing must not.
    expect(names.indexOf('Apple')).toBeLessThan(names.indexOf('banana'));
    expect(names.indexOf('banana')).toBeLessThan(names.indexOf('cherry'));
    expect(names.indexOf('cherry')).toBeLessThan(names.indexOf('Date'));
    const count = (name: string) => list.find((c) => c.name === name)?.product_count;
    expect([count('Apple'), count('banana'), count('cherry'), count('Date')]).toEqual([2, 0, 1, 0]);
  });

  test('returns id, name, description, product_count and created_at for each category', async () => {
    const list = await listCategories();
    expect(list.length).toBeGreaterThan(0);
    for (const c of list) {
      expect(c).toEqual(
        expect.objectContaining({
          id: expect.any(Number),
          name: expect.any(String),
          product_count: expect.any(Number),
          created_at: expect.stringMatching(/Z$/),
        }),
      );
      expect(c.description === null || typeof c.description === 'string').toBe(true);
    }
  });

  test('includes a category created by adding a product to it', async () => {
    expect((await t.post('/products', { name: 'Kite', price: 12, category: 'Outdoor Play' })).status).toBe(201);
    const found = (await listCategories()).find((c) => c.name === 'Outdoor Play');
    expect(found?.product_count).toBe(1);
  });

  test('answers GET /categories/ with a trailing slash', async () => {
    expect((await listCategories('/categories/')).length).toBe((await listCategories()).length);
  });
});

describe('POST /categories: errors', () => {
  test('refuses a name that exists in another case with 409 duplicate_category and writes nothing', async () => {
    expect((await t.post('/categories', { name: 'Stationery' })).status).toBe(201);
    for (const name of ['Stationery', 'stationery', 'STATIONERY', ' stationery ']) {
      await expectProblem(await t.post('/categories', { name }), 409, 'duplicate_category');
    }
    expect((await categoryRows('stationery')).map((r) => r.name)).toEqual(['Stationery']);
  });

  test('refuses the name of a category that a product created, with 409 duplicate_category', async () => {
    expect((await t.post('/products', { name: 'Hammer', price: 8, category: 'Hardware' })).status).toBe(201);
    await expectProblem(await t.post('/categories', { name: 'hardware' }), 409, 'duplicate_category');
  });

  test.each([
    ['no name', {}, ['name']],
    ['an empty name', { name: '' }, ['name']],
    ['a name of spaces', { name: '   ' }, ['name']],
    ['a 101-character name', { name: 'c'.repeat(101) }, ['name']],
    ['a numeric description', { name: 'Numbers', description: 5 }, ['description']],
    ['unknown fields', { name: 'Extras', colour: 'red', parent: 1 }, ['colour', 'parent']],
  ])('refuses %s with 422 naming the fields, and writes nothing', async (_, body, paths) => {
    const countCategories = async () => (await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM categories`)[0]!.n;
    const before = await countCategories();
    const problem = await expectProblem(await t.post('/categories', body), 422, 'validation_failed');
    expect([...new Set(problem.errors.map((e: { path: string }) => e.path))].sort()).toEqual(paths);
    expect(await countCategories()).toBe(before);
  });
});
