import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import type { Product } from '../support/types.ts';

const SORTS = ['name', '-name', 'price', '-price', 'created_at', '-created_at'] as const;
type Sort = (typeof SORTS)[number];

/** What the expected orders are computed from: values the test chose or read back from the database. */
type Known = { id: number; name: string; cents: number; micros: number; category: string };

/** Microseconds since the epoch of an RFC 3339 UTC timestamp, keeping all six fractional digits. */
function micros(ts: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z$/.exec(ts);
  if (!m) throw new Error(`not an RFC 3339 UTC timestamp: ${ts}`);
  return Date.parse(`${m[1]}Z`) * 1000 + Number((m[2] ?? '').padEnd(6, '0'));
}

const cents = (price: string) => Math.round(Number(price) * 100);

/** The order a sort promises: by its key, ties by id; a leading "-" reverses both. */
function compare(sort: Sort, a: Known, b: Known): number {
  const field = sort.replace(/^-/, '');
  const key = (r: Known): [string | number, number] =>
    field === 'name' ? [r.name.toLowerCase(), r.id] : field === 'price' ? [r.cents, r.id] : [r.micros, r.id];
  const [ka, ia] = key(a);
  const [kb, ib] = key(b);
  const order = ka < kb ? -1 : ka > kb ? 1 : ia - ib;
  return sort.startsWith('-') ? -order : order;
}

const expectedIds = (rows: Known[], sort: Sort) => [...rows].sort((a, b) => compare(sort, a, b)).map((r) => r.id);

function nextPath(res: Response): string | null {
  const link = res.headers.get('link');
  if (link === null) return null;
  const m = /^<([^>]+)>;\s*rel="next"$/.exec(link);
  if (!m) throw new Error(`Link header is not one rel="next" link: ${link}`);
  return m[1]!;
}

type Walk = { ids: number[]; pages: number[][] };

/** Follows Link rel="next" from `path` to the last page; `between` runs after each page but the last. */
async function walk(t: TestApp, path: string, maxPages: number, between?: (page: number) => Promise<void>): Promise<Walk> {
  const pages: number[][] = [];
  let next: string | null = path;
  while (next !== null) {
    if (pages.length >= maxPages) throw new Error(`more than ${maxPages} pages from ${path}`);
    const res = await t.request(next);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { id: number }[];
    pages.push(body.map((p) => p.id));
    next = nextPath(res);
    if (next !== null && between) await between(pages.length);
  }
  return { ids: pages.flat(), pages };
}

async function expectRefused(res: Response, path: string) {
  expect(res.status).toBe(422);
  expect(res.headers.get('content-type')).toStartWith('application/problem+json');
  const body = (await res.json()) as { code: string; errors: { path: string }[] };
  expect(body.code).toBe('validation_failed');
  expect(body.errors.map((e) => e.path)).toContain(path);
}

// ---------------------------------------------------------------- fixture

const CATEGORIES = ['Garden', 'Kitchen', 'Toys'];
const PRICES = ['0.00', '1.50', '9.99', '19.99', '19.99', '250.00', '99999999.99'];
// Whole seconds, fractions of every length, and ties: rows share timestamps and prices.
const TIMES = [
  '2020-01-01T00:00:00Z',
  '2020-01-01T00:00:00.5Z',
  '2020-01-01T00:00:00.123456Z',
  '2020-06-30T12:34:56.000001Z',
  '2019-12-31T23:59:59.999999Z',
];
const FIXTURE_SIZE = 120;

/** A unique name of letters in mixed case: 4 letters picked by a bijection of i mod 26^4. */
function fixtureName(i: number): string {
  let n = (i * 7919 + 12345) % 26 ** 4;
  let name = '';
  for (let j = 0; j < 4; j++) {
    const letter = String.fromCharCode(97 + (n % 26));
    name += (i + j) % 3 === 0 ? letter.toUpperCase() : letter;
    n = Math.floor(n / 26);
  }
  return name;
}

let t: TestApp;
let fixture: Known[];
let skus: Map<number, string>;

beforeAll(async () => {
  t = await createTestApp();
  const categories = await t.db.sql<{ id: number; name: string }[]>`
    INSERT INTO categories ${t.db.sql(CATEGORIES.map((name) => ({ name })))} RETURNING id, name`;
  const categoryId = new Map(categories.map((c) => [c.name, c.id]));
  const rows = Array.from({ length: FIXTURE_SIZE }, (_, i) => ({
    sku: `FX-${String(i).padStart(4, '0')}`,
    name: fixtureName(i),
    price: PRICES[i % PRICES.length]!,
    quantity: 0,
    category_id: categoryId.get(CATEGORIES[i % CATEGORIES.length]!)!,
    created_at: TIMES[i % TIMES.length]!,
  }));
  const inserted = await t.db.sql<{ id: number; sku: string }[]>`
    INSERT INTO products ${t.db.sql(rows)}
    RETURNING id, sku`;
  const idOf = new Map(inserted.map((r) => [r.sku, r.id]));
  fixture = rows.map((r, i) => ({
    id: idOf.get(r.sku)!,
    name: r.name,
    cents: cents(r.price),
    micros: micros(r.created_at),
    category: CATEGORIES[i % CATEGORIES.length]!,
  }));
  skus = new Map(rows.map((r) => [idOf.get(r.sku)!, r.sku]));
});
afterAll(async () => {
  await t?.close();
});

// ---------------------------------------------------------------- tests

describe('GET /products: listing', () => {
  test('the fixture can tell case-insensitive name order from byte order, and has equal prices and times', () => {
    const byBytes = [...fixture].sort((a, b) => (a.name < b.name ? -1 : 1)).map((r) => r.id);
    expect(byBytes).not.toEqual(expectedIds(fixture, 'name'));
    expect(new Set(fixture.map((r) => r.cents)).size).toBeLessThan(fixture.length);
    expect(new Set(fixture.map((r) => r.micros)).size).toBeLessThan(fixture.length);
  });

  test('answers 200 with a JSON array of products, sorted by name case-insensitively by default', async () => {
    const res = await t.request('/products?limit=1000');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toStartWith('application/json');
    expect(res.headers.get('link')).toBeNull();
    const body = (await res.json()) as Product[];
    expect(Array.isArray(body)).toBe(true);
    expect(body.map((p) => p.id)).toEqual(expectedIds(fixture, 'name'));
    const first = body[0]!;
    for (const key of ['id', 'sku', 'name', 'description', 'price', 'quantity', 'category', 'created_at', 'updated_at']) {
      expect(first).toHaveProperty(key);
    }
    expect(typeof first.price).toBe('number');
    expect(first.created_at).toMatch(/Z$/);
  });

  test('returns 100 rows and a next link when no limit is given', async () => {
    const res = await t.request('/products');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Product[];
    expect(body.length).toBe(100);
    expect(nextPath(res)).not.toBeNull();
  });

  test('answers GET /products/ with a trailing slash like GET /products', async () => {
    const res = await t.request('/products/?limit=1000');
    expect(res.status).toBe(200);
    expect(((await res.json()) as Product[]).map((p) => p.id)).toEqual(expectedIds(fixture, 'name'));
  });

  test('orders equal prices by id, ascending for price and descending for -price', async () => {
    for (const sort of ['price', '-price'] as const) {
      const body = (await (await t.request(`/products?sort=${sort}&limit=1000`)).json()) as { id: number; price: number }[];
      const tied = body.filter((p) => p.price === 19.99).map((p) => p.id);
      expect(tied.length).toBeGreaterThan(10);
      const ascending = [...tied].sort((a, b) => a - b);
      expect(tied).toEqual(sort === 'price' ? ascending : ascending.reverse());
    }
  });

  test('filters by category case-insensitively', async () => {
    const res = await t.request('/products?category=gARDEN&limit=1000');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { id: number; category: string }[];
    expect(body.map((p) => p.id)).toEqual(
      expectedIds(
        fixture.filter((r) => r.category === 'Garden'),
        'name',
      ),
    );
    expect(new Set(body.map((p) => p.category))).toEqual(new Set(['Garden']));
  });

  test('answers an empty array for a category that does not exist', async () => {
    const res = await t.request('/products?category=Nowhere');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([]);
    expect(res.headers.get('link')).toBeNull();
  });

  test('finds a product by its exact SKU in any case, and nothing by part of one', async () => {
    const target = fixture[42]!;
    const sku = skus.get(target.id)!;
    const res = await t.request(`/products?sku=${encodeURIComponent(sku.toLowerCase())}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Product[];
    expect(body.map((p) => p.id)).toEqual([target.id]);
    expect(body[0]!.sku).toBe(sku);
    expect(await (await t.request(`/products?sku=${sku.slice(0, -1)}`)).json()).toEqual([]);
  });
});

describe('GET /products: keyset pagination', () => {
  test.each(SORTS)('following rel="next" with sort=%s and limit=7 visits every product once, in order', async (sort) => {
    const { ids, pages } = await walk(t, `/products?sort=${sort}&limit=7`, 30);
    expect(ids).toEqual(expectedIds(fixture, sort));
    expect(pages.length).toBe(Math.ceil(FIXTURE_SIZE / 7));
    for (const page of pages.slice(0, -1)) expect(page.length).toBe(7);
  });

  test.each(SORTS)(
    'following rel="next" with sort=%s within category "toys" visits its products once, in order',
    async (sort) => {
      const { ids } = await walk(t, `/products?category=toys&sort=${sort}&limit=3`, 30);
      expect(ids).toEqual(
        expectedIds(
          fixture.filter((r) => r.category === 'Toys'),
          sort,
        ),
      );
    },
  );

  test('the next link keeps the query and adds an opaque cursor', async () => {
    const res = await t.request('/products?category=Kitchen&sort=-price&limit=5');
    const next = new URL(nextPath(res)!, 'http://x');
    expect(next.pathname).toBe('/products');
    expect(next.searchParams.get('category')).toBe('Kitchen');
    expect(next.searchParams.get('sort')).toBe('-price');
    expect(next.searchParams.get('limit')).toBe('5');
    expect(next.searchParams.get('cursor')).toMatch(/^\S+$/);
  });

  test('sends no next link when the last page is exactly full', async () => {
    // 40 of the 120 fixture rows are in Garden: 5 full pages of 8, and no sixth, empty one.
    const { pages } = await walk(t, '/products?category=Garden&limit=8', 10);
    expect(pages.map((p) => p.length)).toEqual([8, 8, 8, 8, 8]);
  });

  test('answers limit=1 and limit=1000', async () => {
    const one = await t.request('/products?limit=1');
    expect(((await one.json()) as Product[]).length).toBe(1);
    expect(nextPath(one)).not.toBeNull();
    const all = await t.request('/products?limit=1000');
    expect(((await all.json()) as Product[]).length).toBe(FIXTURE_SIZE);
    expect(all.headers.get('link')).toBeNull();
  });
});

describe('GET /products: refused queries', () => {
  test.each(['0', '1001', 'abc', '1.5', '-3'])('refuses limit=%s with 422 naming limit', async (limit) => {
    await expectRefused(await t.request(`/products?limit=${limit}`), 'limit');
  });

  test.each(['bogus', 'NAME', 'id', '+price'])('refuses sort=%s with 422 naming sort', async (sort) => {
    await expectRefused(await t.request(`/products?sort=${encodeURIComponent(sort)}`), 'sort');
  });

  test.each([
    ['garbage text', 'not-a-cursor'],
    ['base64url of an object', Buffer.from('{"a":1}').toString('base64url')],
    ['base64url of an empty array', Buffer.from('[]').toString('base64url')],
  ])('refuses a cursor that is %s with 422 naming cursor', async (_, cursor) => {
    await expectRefused(await t.request(`/products?cursor=${cursor}`), 'cursor');
  });

  test('refuses a cursor made for another sort with 422 naming cursor', async () => {
    for (const [made, used] of [
      ['price', 'name'],
      ['price', '-price'],
      ['created_at', 'price'],
      ['name', '-name'],
    ]) {
      const cursor = new URL(nextPath(await t.request(`/products?sort=${made}&limit=2`))!, 'http://x').searchParams.get('cursor');
      await expectRefused(await t.request(`/products?sort=${used}&limit=2&cursor=${cursor}`), 'cursor');
    }
  });

  // Same shape as the service's cursors, with a key PostgreSQL cannot take.
  test.each([
    ['created_at', 'an impossible timestamp', '2026-13-45T99:99:99Z'],
    ['name', 'a NUL character', 'a\u0000b'],
  ])('refuses a tampered sort=%s cursor holding %s with 422, not 500', async (sort, _, key) => {
    const cursor = Buffer.from(JSON.stringify([sort, key, 1])).toString('base64url');
    await expectRefused(await t.request(`/products?sort=${sort}&cursor=${cursor}`), 'cursor');
  });
});

describe('GET /products: pagination while products are added', () => {
  let live: TestApp;
  beforeAll(async () => {
    live = await createTestApp();
    const [category] = await live.db.sql<{ id: number }[]>`INSERT INTO categories (name) VALUES ('Live') RETURNING id`;
    const rows = Array.from({ length: 30 }, (_, i) => ({
      sku: `LV-${i}`,
      name: fixtureName(i + 500),
      price: PRICES[i % PRICES.length]!,
      quantity: 0,
      category_id: category!.id,
      created_at: TIMES[i % TIMES.length]!,
    }));
    await live.db.sql`INSERT INTO products ${live.db.sql(rows, 'sku', 'name', 'price', 'quantity', 'category_id', 'created_at')}`;
  });
  afterAll(async () => {
    await live?.close();
  });

  async function snapshot(): Promise<Known[]> {
    const rows = await live.db.sql<{ id: number; name: string; price: string; created_at: string }[]>`
      SELECT id, name, price::text AS price, created_at FROM products`;
    return rows.map((r) => ({ id: r.id, name: r.name, cents: cents(r.price), micros: micros(r.created_at), category: 'Live' }));
  }

  let added = 0;
  /** Adds products at both ends of every order and in the middle, through the API. */
  async function addProducts() {
    for (const [prefix, price] of [
      ['aaaa', 0],
      ['ZZZZ', 99999999.99],
      ['mmmm', 19.99],
    ] as const) {
      const res = await live.post('/products', { name: `${prefix} added ${++added}`, price, category: 'live' });
      expect(res.status).toBe(201);
    }
  }

  test.each(SORTS)('sort=%s: no product twice and none of those present before the walk missed', async (sort) => {
    const before = await snapshot();
    const { ids } = await walk(live, `/products?sort=${sort}&limit=4`, 60, async (page) => {
      if (page === 1 || page === 3 || page === 5) await addProducts();
    });
    expect(new Set(ids).size).toBe(ids.length);
    const visited = new Set(ids);
    expect(before.filter((r) => !visited.has(r.id)).map((r) => r.id)).toEqual([]);
    // Every visited product, old or new, came in the order of the sort.
    const now = new Map((await snapshot()).map((r) => [r.id, r]));
    const rows = ids.map((id) => now.get(id)!);
    expect(ids).toEqual(expectedIds(rows, sort));
  });
});
