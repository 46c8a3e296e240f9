import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import { expectProblem } from '../support/problem.ts';
import type { InventoryReport, LowStockProduct } from '../support/types.ts';
import { json, unique } from '../support/values.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

const MAX_PRICE_CENTS = 9999999999n; // 99999999.99
const MAX_QUANTITY = 2147483647;

/** A decimal string with exactly two decimals, as cents. */
function cents(value: string): bigint {
  expect(value).toMatch(/^\d+\.\d{2}$/);
  return BigInt(value.replace('.', ''));
}

/** Cents as the decimal string the report must show. */
function decimal(c: bigint): string {
  const text = c.toString().padStart(3, '0');
  return `${text.slice(0, -2)}.${text.slice(-2)}`;
}

async function report(app: TestApp = t, query = ''): Promise<InventoryReport> {
  const res = await app.request(`/reports/inventory${query}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toStartWith('application/json');
  return json(res);
}

async function createProduct(body: Record<string, unknown>, app: TestApp = t): Promise<LowStockProduct> {
  const res = await app.post('/products', { name: unique('Reported'), ...body });
  expect(res.status).toBe(201);
  return json(res);
}

const entry = (r: InventoryReport, category: string) => r.categories.find((c) => c.category === category);

describe('GET /reports/inventory: totals', () => {
  test('answers the categories and the total, without low_stock unless asked', async () => {
    await createProduct({ price: 2, quantity: 3, category: unique('Shape') });
    const r = await report();
    expect(Object.keys(r).sort()).toEqual(['below_reorder_point', 'categories', 'locations', 'total']);
    expect(r.categories.length).toBeGreaterThan(0);
    for (const c of r.categories) {
      expect(Object.keys(c).sort()).toEqual(['category', 'product_count', 'units', 'value']);
      expect(typeof c.value).toBe('string');
    }
    expect(Object.keys(r.total).sort()).toEqual(['product_count', 'units', 'value']);
  });

  test('sums price × quantity exactly: 0.10 × 3 + 0.20 × 3 is "0.90"', async () => {
    const category = unique('Cents');
    await createProduct({ price: 0.1, quantity: 3, category });
    await createProduct({ price: '0.20', quantity: 3, category });
    expect(entry(await report(), category)).toEqual({ category, product_count: 2, units: 6, value: '0.90' });
  });

  test('shows the largest single stock value exactly', async () => {
    const category = unique('Vault');
    await createProduct({ price: 99999999.99, quantity: MAX_QUANTITY, category });
    const expected = decimal(MAX_PRICE_CENTS * BigInt(MAX_QUANTITY));
    expect(expected).toBe('214748364678525163.53');
    expect(entry(await report(), category)).toEqual({ category, product_count: 1, units: MAX_QUANTITY, value: expected });
  });

  test('follows stock adjustments and price edits', async () => {
    const category = unique('Moving');
    const product = await createProduct({ price: 1.25, quantity: 4, category });
    expect((await t.post(`/products/${product.id}/stock-adjustments`, { delta: 6, reason: 'received' })).status).toBe(201);
    expect(
      (
        await t.request(`/products/${product.id}`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ price: '0.33' }),
        })
      ).status,
    ).toBe(200);
    expect(entry(await report(), category)).toEqual({ category, product_count: 1, units: 10, value: '3.30' });
  });

  test('the total is the exact sum of the categories, and grows by what is added', async () => {
    const before = await report();
    await createProduct({ price: 19.99, quantity: 7, category: unique('Growth') });
    await createProduct({ price: 0.01, quantity: 1, category: 'growth extra' });
    const after = await report();
    const sum = (r: InventoryReport) => r.categories.reduce((acc, c) => acc + cents(c.value), 0n);
    expect(cents(after.total.value)).toBe(sum(after));
    expect(after.total.product_count).toBe(after.categories.reduce((acc, c) => acc + c.product_count, 0));
    expect(after.total.units).toBe(after.categories.reduce((acc, c) => acc + c.units, 0));
    expect(cents(after.total.value) - cents(before.total.value)).toBe(1999n * 7n + 1n);
    expect(after.total.product_count - before.total.product_count).toBe(2);
    expect(after.total.units - before.total.units).toBe(8);
  });

  test('leaves archived products out', async () => {
    const category = unique('Half archived');
    await createProduct({ price: 5, quantity: 2, category });
    const gone = await createProduct({ price: 7, quantity: 100, category });
    expect((await t.request(`/products/${gone.id}`, { method: 'DELETE' })).status).toBe(204);
    expect(entry(await report(), category)).toEqual({ category, product_count: 1, units: 2, value: '10.00' });
  });

  test('lists empty categories, and categories holding only archived products, with zeros', async () => {
    const empty = unique('Empty');
    expect((await t.post('/categories', { name: empty })).status).toBe(201);
    const onlyArchived = unique('Only archived');
    const gone = await createProduct({ price: 7, quantity: 3, category: onlyArchived });
    expect((await t.request(`/products/${gone.id}`, { method: 'DELETE' })).status).toBe(204);
    const r = await report();
    for (const category of [empty, onlyArchived]) {
      expect(entry(r, category)).toEqual({ category, product_count: 0, units: 0, value: '0.00' });
    }
  });

  test('orders the categories by name, whatever the case', async () => {
    await createProduct({ price: 1, quantity: 1, category: 'aardvark supplies' });
    await createProduct({ price: 1, quantity: 1, category: 'Zebra Supplies' });
    const names = (await report()).categories.map((c) => c.category);
    expect(names).toEqual([...names].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())));
    expect(names.indexOf('aardvark supplies')).toBeLessThan(names.indexOf('Zebra Supplies'));
  });
});

describe('GET /reports/inventory: an empty catalog', () => {
  let empty: TestApp;
  beforeAll(async () => {
    empty = await createTestApp();
  });
  afterAll(async () => {
    await empty?.close();
  });

  test('answers no categories, zero totals and an empty low-stock list', async () => {
    expect(await report(empty, '?low_stock_below=10')).toEqual({
      categories: [],
      total: { product_count: 0, units: 0, value: '0.00' },
      locations: [
        {
          location_id: expect.any(Number),
          code: 'DEFAULT',
          name: 'Default location',
          units: 0,
          reserved: 0,
          available: 0,
          value: '0.00',
        },
      ],
      below_reorder_point: [],
      low_stock: [],
    });
  });

  test('answers an empty low-stock list when every product has enough', async () => {
    await createProduct({ price: 1, quantity: 3, category: 'Stocked' }, empty);
    const r = await report(empty, '?low_stock_below=3');
    expect(r.low_stock).toEqual([]);
    expect(r.total).toEqual({ product_count: 1, units: 3, value: '3.00' });
  });
});

describe('GET /reports/inventory: totals beyond 10^18', () => {
  // Its own database: these values would sit in every other report of this file.
  let big: TestApp;
  beforeAll(async () => {
    big = await createTestApp();
  });
  afterAll(async () => {
    await big?.close();
  });

  test('stays exact when the stock value exceeds 10^18 (five products at the maximum price and quantity)', async () => {
    for (let i = 0; i < 5; i++) {
      await createProduct({ price: 99999999.99, quantity: MAX_QUANTITY, category: 'Treasury' }, big);
    }
    const expected = decimal(MAX_PRICE_CENTS * BigInt(MAX_QUANTITY) * 5n);
    expect(expected).toBe('1073741823392625817.65');
    const r = await report(big);
    expect(entry(r, 'Treasury')).toEqual({ category: 'Treasury', product_count: 5, units: 5 * MAX_QUANTITY, value: expected });
    expect(r.total).toEqual({ product_count: 5, units: 5 * MAX_QUANTITY, value: expected });
  });
});

describe('GET /reports/inventory: low stock', () => {
  test('lists active products under the threshold, grouped by category, fewest first', async () => {
    const a = unique('Low A');
    const b = unique('Low B');
    const a3 = await createProduct({ price: 1, quantity: 3, category: a });
    const a0 = await createProduct({ price: 1, quantity: 0, category: a });
    await createProduct({ price: 1, quantity: 50, category: a }); // enough stock
    const b4 = await createProduct({ price: 1, quantity: 4, category: b });
    const archived = await createProduct({ price: 1, quantity: 1, category: b });
    expect((await t.request(`/products/${archived.id}`, { method: 'DELETE' })).status).toBe(204);
    await createProduct({ price: 1, quantity: 5, category: b }); // exactly at the threshold: not low

    const r = await report(t, '?low_stock_below=5');
    expect(Object.keys(r).sort()).toEqual(['below_reorder_point', 'categories', 'locations', 'low_stock', 'total']);
    const shown = (p: LowStockProduct) => ({ id: p.id, sku: p.sku, name: p.name, quantity: p.quantity });
    expect(r.low_stock!.find((g) => g.category === a)).toEqual({ category: a, products: [shown(a0), shown(a3)] });
    expect(r.low_stock!.find((g) => g.category === b)).toEqual({ category: b, products: [shown(b4)] });

    for (const group of r.low_stock!) {
      expect(Object.keys(group).sort()).toEqual(['category', 'products']);
      expect(group.products.length).toBeGreaterThan(0);
      for (const p of group.products) expect(p.quantity).toBeLessThan(5);
    }
    const groups = r.low_stock!.map((g) => g.category);
    expect(new Set(groups).size).toBe(groups.length);
    expect(groups).toEqual([...groups].sort((x, y) => x.toLowerCase().localeCompare(y.toLowerCase())));
  });

  test('a product restocked above the threshold leaves the list', async () => {
    const category = unique('Restocked');
    const product = await createProduct({ price: 1, quantity: 1, category });
    expect((await report(t, '?low_stock_below=2')).low_stock!.some((g) => g.category === category)).toBe(true);
    expect((await t.post(`/products/${product.id}/stock-adjustments`, { delta: 5, reason: 'received' })).status).toBe(201);
    expect((await report(t, '?low_stock_below=2')).low_stock!.some((g) => g.category === category)).toBe(false);
  });

  test.each(['0', '-1', 'abc', '1.5', ''])('refuses low_stock_below=%s with 422', async (value) => {
    const body = await expectProblem(await t.request(`/reports/inventory?low_stock_below=${value}`), 422, 'validation_failed');
    expect(body.errors.map((e: { path: string }) => e.path)).toEqual(['low_stock_below']);
  });
});

describe('GET /reports/inventory: one snapshot under concurrent writes', () => {
  // Its own database: the writes below would move every other report of this file.
  let busy: TestApp;
  beforeAll(async () => {
    busy = await createTestApp();
  });
  afterAll(async () => {
    await busy?.close();
  });

  test('the totals and a low-stock list of every product agree while stock moves and products are added', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 8; i++) ids.push((await createProduct({ price: 1, quantity: 5, category: `Busy ${i % 3}` }, busy)).id);
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const res =
          i % 5 === 4
            ? await busy.post('/products', { name: unique('Busy new'), price: 2, quantity: 3, category: `Busy ${i % 3}` })
            : await busy.post(`/products/${ids[i % ids.length]}/stock-adjustments`, { delta: 1, reason: 'received' });
        expect(res.status).toBe(201);
        writes++;
      }
    })();
    try {
      for (let i = 0; i < 60; i++) {
        // Every product has fewer units than this, so the list holds the whole catalog.
        const r = await report(busy, `?low_stock_below=${MAX_QUANTITY}`);
        const listed = r.low_stock!.flatMap((g) => g.products);
        expect({ product_count: listed.length, units: listed.reduce((a, p) => a + p.quantity, 0) }).toEqual({
          product_count: r.total.product_count,
          units: r.total.units,
        });
        for (const group of r.low_stock!) {
          expect(group.products.reduce((a, p) => a + p.quantity, 0)).toBe(entry(r, group.category)!.units);
        }
      }
    } finally {
      writing = false;
      await writer;
    }
    expect(writes).toBeGreaterThan(0);
  }, 60_000);
});

describe('GET /reports/inventory: by location and reorder point', () => {
  test('sums on hand, reserved, available and value per location; lists levels below their reorder point instead of the low-stock rule', async () => {
    const own = await createTestApp();
    try {
      const [wh] = await own.db.sql<
        { id: number }[]
      >`INSERT INTO locations (code, name) VALUES ('WH-R', 'Report warehouse') RETURNING id`;
      const a = (await json(await own.post('/products', { name: 'Report A', price: 2.5, quantity: 10 }))) as { id: number };
      const b = (await json(await own.post('/products', { name: 'Report B', price: 1, quantity: 1 }))) as { id: number };
      expect(
        (await own.post(`/products/${a.id}/stock-adjustments`, { delta: 4, reason: 'received', location: wh!.id })).status,
      ).toBe(201);
      await own.db.sql`SELECT stock_reserve(${a.id}, ${wh!.id}, 3, now() + interval '1 hour')`;
      // A's reorder point at the warehouse: 1 available there (4 on hand, 3 reserved), below 5.
      await own.db.sql`UPDATE stock_levels SET reorder_point = 5 WHERE product_id = ${a.id} AND location_id = ${wh!.id}`;
      const r = await report(own, '?low_stock_below=20');
      expect(r.locations).toEqual([
        {
          location_id: expect.any(Number),
          code: 'DEFAULT',
          name: 'Default location',
          units: 11,
          reserved: 0,
          available: 11,
          value: '26.00',
        },
        { location_id: wh!.id, code: 'WH-R', name: 'Report warehouse', units: 4, reserved: 3, available: 1, value: '10.00' },
      ]);
      expect(r.below_reorder_point).toEqual([
        {
          id: a.id,
          sku: expect.any(String),
          name: 'Report A',
          location_id: wh!.id,
          location_code: 'WH-R',
          available: 1,
          reorder_point: 5,
        },
      ]);
      // A has a reorder point, so the low-stock rule (fewer than 20 in all) lists only B.
      expect(r.low_stock!.flatMap((g) => g.products.map((p) => p.id))).toEqual([b.id]);
    } finally {
      await own.close();
    }
  });
});
