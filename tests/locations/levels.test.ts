import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import { expectProblem } from '../support/problem.ts';
import {
  allPages,
  createLocation,
  createProduct,
  del,
  patch,
  receive,
  type LocationStockLevel,
  type StockLevel,
} from './support.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

const levelsOf = async (product: number) => {
  const res = await t.request(`/products/${product}/levels`);
  expect(res.status).toBe(200);
  return (await res.json()) as StockLevel[];
};

const reserve = (product: number, location: number, quantity: number) =>
  t.db.sql`SELECT stock_reserve(${product}, ${location}, ${quantity}, now() + interval '1 hour')`;

/** A reservation already past its expiry, which stock_reserve refuses to make: written as the owner. */
const reserveExpired = (product: number, location: number, quantity: number) =>
  t.db.admin`
    INSERT INTO reservations (product_id, location_id, quantity, expires_at, created_at)
    VALUES (${product}, ${location}, ${quantity}, now() - interval '1 minute', now() - interval '1 hour')`;

const setReorderPoint = (product: number, location: number, reorder_point: number | null) =>
  patch(t, `/products/${product}/levels/${location}`, { reorder_point });

describe('GET /products/{id}/levels', () => {
  test('shows on hand, reserved and available at each location; an expired reservation does not count', async () => {
    const a = await createLocation(t);
    const b = await createLocation(t);
    const product = await createProduct(t, 4);
    await receive(t, product, a.id, 10);
    await receive(t, product, b.id, 3);
    await reserve(product, a.id, 6);
    await reserve(product, a.id, 1);
    await reserveExpired(product, a.id, 2);
    await reserve(product, b.id, 3);
    const [def, atA, atB] = await levelsOf(product);
    expect(def).toMatchObject({ location_code: 'DEFAULT', on_hand: 4, reserved: 0, available: 4, reorder_point: null });
    expect(atA).toEqual({
      product_id: product,
      location_id: a.id,
      location_code: a.code,
      on_hand: 10,
      reserved: 7,
      available: 3,
      reorder_point: null,
      updated_at: expect.any(String),
    });
    expect(atB).toMatchObject({ location_id: b.id, on_hand: 3, reserved: 3, available: 0 });
  });

  test('available never goes below 0, even when reservations exceed what is on hand', async () => {
    const a = await createLocation(t);
    const product = await createProduct(t);
    // As the owner: a reservation larger than the level (stock_reserve would refuse it).
    await t.db.admin`INSERT INTO stock_levels (product_id, location_id) VALUES (${product}, ${a.id})`;
    await t.db.admin`
      INSERT INTO reservations (product_id, location_id, quantity, expires_at) VALUES (${product}, ${a.id}, 5, now() + interval '1 hour')`;
    const [level] = await levelsOf(product);
    expect(level).toMatchObject({ on_hand: 0, reserved: 5, available: 0 });
  });

  test('a product without levels has none; levels at archived locations are left out', async () => {
    const product = await createProduct(t);
    expect(await levelsOf(product)).toEqual([]);
    const a = await createLocation(t);
    expect((await setReorderPoint(product, a.id, 3)).status).toBe(200);
    expect((await levelsOf(product)).map((l) => l.location_id)).toEqual([a.id]);
    expect((await del(t, `/locations/${a.id}`)).status).toBe(204);
    expect(await levelsOf(product)).toEqual([]);
  });

  test("shows an archived product's levels; 404 for an unknown product", async () => {
    const product = await createProduct(t, 2);
    expect((await del(t, `/products/${product}`)).status).toBe(204);
    expect((await levelsOf(product)).map((l) => l.on_hand)).toEqual([2]);
    await expectProblem(await t.request('/products/999999/levels'), 404, 'not_found');
  });
});

describe('PATCH /products/{id}/levels/{location_id}', () => {
  test('creates the level with nothing on hand when missing, then changes and removes its reorder point', async () => {
    const a = await createLocation(t);
    const product = await createProduct(t);
    const res = await setReorderPoint(product, a.id, 5);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      product_id: product,
      location_id: a.id,
      location_code: a.code,
      on_hand: 0,
      reserved: 0,
      available: 0,
      reorder_point: 5,
      updated_at: expect.any(String),
    });
    await receive(t, product, a.id, 8);
    await reserve(product, a.id, 2);
    const changed = await patch(t, `/products/${product}/levels/${a.id}`, { reorder_point: 0 }, 'application/merge-patch+json');
    expect(await changed.json()).toMatchObject({ on_hand: 8, reserved: 2, available: 6, reorder_point: 0 });
    expect(await (await setReorderPoint(product, a.id, null)).json()).toMatchObject({ reorder_point: null, on_hand: 8 });
    const [row] = await t.db.sql<{ on_hand: number; reorder_point: number | null }[]>`
      SELECT on_hand, reorder_point FROM stock_levels WHERE product_id = ${product} AND location_id = ${a.id}`;
    expect(row).toEqual({ on_hand: 8, reorder_point: null });
  });

  test('answers 404 for an unknown or archived product or location, and writes nothing', async () => {
    const a = await createLocation(t);
    const product = await createProduct(t);
    const archivedLocation = await createLocation(t);
    expect((await del(t, `/locations/${archivedLocation.id}`)).status).toBe(204);
    const archivedProduct = await createProduct(t);
    expect((await del(t, `/products/${archivedProduct}`)).status).toBe(204);
    for (const [p, l] of [
      [999999, a.id],
      [product, 999999],
      [archivedProduct, a.id],
      [product, archivedLocation.id],
    ] as const) {
      const problem = await expectProblem(await setReorderPoint(p, l, 1), 404, 'not_found');
      expect(problem.detail).toContain(p === product ? 'location' : 'product');
    }
    const [row] = await t.db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM stock_levels WHERE product_id IN (${product}, ${archivedProduct})`;
    expect(row!.n).toBe(0);
  });

  test.each([
    ['a negative reorder point', { reorder_point: -1 }],
    ['a fractional one', { reorder_point: 1.5 }],
    ['a string', { reorder_point: '3' }],
    ['none at all', {}],
    ['an unknown field', { reorder_point: 1, on_hand: 5 }],
  ])('refuses %s with 422', async (_, body) => {
    const a = await createLocation(t);
    const product = await createProduct(t);
    await expectProblem(await patch(t, `/products/${product}/levels/${a.id}`, body), 422, 'validation_failed');
    await expectProblem(await patch(t, `/products/${product}/levels/01`, { reorder_point: 1 }), 422, 'validation_failed');
  });
});

describe('GET /locations/{id}/levels', () => {
  test('lists the levels of active products at the location with their SKU and name', async () => {
    const a = await createLocation(t);
    const product = await createProduct(t);
    await receive(t, product, a.id, 5);
    await reserve(product, a.id, 1);
    const gone = await createProduct(t);
    await receive(t, gone, a.id, 1);
    expect((await del(t, `/products/${gone}`)).status).toBe(204);
    const res = await t.request(`/locations/${a.id}/levels`);
    expect(res.status).toBe(200);
    const rows = (await res.json()) as LocationStockLevel[];
    const [p] = await t.db.sql<{ sku: string; name: string }[]>`SELECT sku, name FROM products WHERE id = ${product}`;
    expect(rows).toEqual([
      {
        product_id: product,
        sku: p!.sku,
        name: p!.name,
        location_id: a.id,
        location_code: a.code,
        on_hand: 5,
        reserved: 1,
        available: 4,
        reorder_point: null,
        updated_at: expect.any(String),
      },
    ]);
  });

  test('below_reorder_point=true lists the levels whose available stock is below their reorder point', async () => {
    const a = await createLocation(t);
    const make = async (onHand: number, reserved: number, reorderPoint: number | null, expiredReserved = 0) => {
      const product = await createProduct(t);
      if (onHand) await receive(t, product, a.id, onHand);
      if (reserved) await reserve(product, a.id, reserved);
      if (expiredReserved) await reserveExpired(product, a.id, expiredReserved);
      if (reorderPoint !== null) expect((await setReorderPoint(product, a.id, reorderPoint)).status).toBe(200);
      return product;
    };
    const low = await make(3, 0, 5); // 3 < 5
    const reservedLow = await make(10, 6, 5); // available 4 < 5
    const atPoint = await make(5, 0, 5); // 5 is not below 5
    const expiredOnly = await make(6, 0, 5, 4); // the expired 4 do not count: 6 available
    const noPoint = await make(1, 0, null); // no reorder point: never below it
    const emptyLevel = await make(0, 0, 1); // 0 < 1
    const res = await t.request(`/locations/${a.id}/levels?below_reorder_point=true`);
    const rows = (await res.json()) as LocationStockLevel[];
    expect(rows.map((r) => r.product_id)).toEqual([low, reservedLow, emptyLevel]);
    expect(rows.map((r) => r.product_id)).not.toContain(atPoint);
    expect(rows.map((r) => r.product_id)).not.toContain(expiredOnly);
    expect(rows.map((r) => r.product_id)).not.toContain(noPoint);
    const all = (await (await t.request(`/locations/${a.id}/levels`)).json()) as LocationStockLevel[];
    expect(all.length).toBe(6);
  });

  test('keyset pages by product id visit every level once, in order, with or without the filter', async () => {
    const a = await createLocation(t);
    const products: number[] = [];
    for (let i = 0; i < 11; i++) {
      const product = await createProduct(t);
      products.push(product);
      await receive(t, product, a.id, i + 1);
      if (i % 2 === 0) expect((await setReorderPoint(product, a.id, 100)).status).toBe(200);
    }
    for (const limit of [1, 3, 11, 50]) {
      const { rows, pages } = await allPages<LocationStockLevel>(t, `/locations/${a.id}/levels?limit=${limit}`);
      expect(rows.map((r) => r.product_id)).toEqual(products);
      expect(pages).toBe(Math.max(1, Math.ceil(11 / limit)));
      const below = await allPages<LocationStockLevel>(t, `/locations/${a.id}/levels?below_reorder_point=true&limit=${limit}`);
      expect(below.rows.map((r) => r.product_id)).toEqual(products.filter((_, i) => i % 2 === 0));
    }
  });

  test("answers 404 for an unknown location; refuses another filter's cursor with 422", async () => {
    await expectProblem(await t.request('/locations/999999/levels'), 404, 'not_found');
    const a = await createLocation(t);
    for (let i = 0; i < 2; i++) await receive(t, await createProduct(t), a.id, 1);
    const first = await t.request(`/locations/${a.id}/levels?limit=1`);
    const cursor = /cursor=([^&>]+)/.exec(first.headers.get('link') ?? '')![1]!;
    await expectProblem(
      await t.request(`/locations/${a.id}/levels?below_reorder_point=true&cursor=${cursor}`),
      422,
      'validation_failed',
    );
  });
});
