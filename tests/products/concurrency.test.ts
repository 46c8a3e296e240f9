import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, listen, type TestApp } from '../support/app.ts';
import { within } from '../support/time.ts';
import { documentedFetch } from '../support/contract.ts';

let t: TestApp;
let server: ReturnType<typeof listen>;
beforeAll(async () => {
  t = await createTestApp();
  server = listen(t.app);
});
afterAll(async () => {
  server?.stop();
  await t?.close();
});

function post(path: string, body: unknown): Promise<Response> {
  return documentedFetch(`${server.base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Status and problem code (if any) of each response. */
async function outcomes(responses: Response[]): Promise<{ status: number; code?: string; id?: number; category?: string }[]> {
  return Promise.all(
    responses.map(async (res) => {
      const body = (await res.json()) as { code?: string; id?: number; category?: string };
      return { status: res.status, code: body.code, id: body.id, category: body.category };
    }),
  );
}

const tally = (values: unknown[]) =>
  values.reduce<Record<string, number>>((acc, v) => {
    acc[String(v)] = (acc[String(v)] ?? 0) + 1;
    return acc;
  }, {});

describe('concurrency: conflicts', () => {
  // An existing category, so that these races are about the product alone.
  beforeAll(async () => {
    expect((await post('/categories', { name: 'Race' })).status).toBe(201);
  });

  test('50 simultaneous POSTs with one SKU give one 201 and 49 409 duplicate_sku', async () => {
    const results = await outcomes(
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          post('/products', { name: `Same SKU ${i}`, sku: 'RACE-SKU', price: 1, category: 'Race' }),
        ),
      ),
    );
    expect(tally(results.map((r) => `${r.status} ${r.code ?? ''}`.trim()))).toEqual({ '201': 1, '409 duplicate_sku': 49 });
    const rows = await t.db.sql`SELECT id FROM products WHERE lower(sku) = 'race-sku'`;
    expect(rows.map((r) => r.id)).toEqual([results.find((r) => r.status === 201)!.id]);
  });

  test('20 simultaneous POSTs with one name in different cases give one 201 and 19 409 duplicate_name', async () => {
    const results = await outcomes(
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          post('/products', { name: i % 2 ? 'Racing Name' : 'RACING name', price: 1, category: 'Race' }),
        ),
      ),
    );
    expect(tally(results.map((r) => `${r.status} ${r.code ?? ''}`.trim()))).toEqual({ '201': 1, '409 duplicate_name': 19 });
    const [row] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM products WHERE lower(name) = 'racing name'`;
    expect(row!.n).toBe(1);
  });

  test('20 simultaneous POST /categories with one name in different cases give one 201 and 19 409 duplicate_category', async () => {
    const results = await outcomes(
      await Promise.all(Array.from({ length: 20 }, (_, i) => post('/categories', { name: ['Dupes', 'dupes', 'DUPES'][i % 3] }))),
    );
    expect(tally(results.map((r) => `${r.status} ${r.code ?? ''}`.trim()))).toEqual({ '201': 1, '409 duplicate_category': 19 });
    const [row] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM categories WHERE lower(name) = 'dupes'`;
    expect(row!.n).toBe(1);
  });
});

describe('concurrency: throughput', () => {
  test('200 simultaneous distinct POSTs all land, and /healthz answers within 2 s meanwhile', async () => {
    expect((await post('/categories', { name: 'Bulk' })).status).toBe(201);
    const batch = Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        post('/products', { name: `Bulk item ${i}`, sku: `BULK-${i}`, price: (i % 50) + 0.5, category: 'Bulk' }),
      ),
    );

    // Sent while the batch is in flight; it must not queue behind it.
    const health = await within(2000, documentedFetch(`${server.base}/healthz`));
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    const results = await outcomes(await batch);
    expect(tally(results.map((r) => r.status))).toEqual({ '201': 200 });
    expect(new Set(results.map((r) => r.id)).size).toBe(200);
    const [row] = await t.db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM products p JOIN categories c ON c.id = p.category_id WHERE c.name = 'Bulk'`;
    expect(row!.n).toBe(200);
  });

  test('20 simultaneous POSTs into one new category all succeed and create exactly one category', async () => {
    const spellings = ['Brand New', 'brand new', 'BRAND NEW', 'Brand new'];
    const results = await outcomes(
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => post('/products', { name: `Newcomer ${i}`, price: 2, category: spellings[i % 4] })),
      ),
    );
    expect(tally(results.map((r) => r.status))).toEqual({ '201': 20 });
    const rows = await t.db.sql<{ id: number; name: string }[]>`SELECT id, name FROM categories WHERE lower(name) = 'brand new'`;
    expect(rows.length).toBe(1);
    // Every product reports the one stored name, whichever spelling created it.
    expect(new Set(results.map((r) => r.category))).toEqual(new Set([rows[0]!.name]));
    const [count] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM products WHERE category_id = ${rows[0]!.id}`;
    expect(count!.n).toBe(20);
  });
});
