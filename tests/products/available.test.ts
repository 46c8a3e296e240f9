/** A product shows what can be sold now: `available`, its stock on hand less open, unexpired reservations. */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import type { Product } from '../support/types.ts';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});

afterAll(async () => {
  await t?.close();
});

test('available is on hand less open reservations, in lookups, listings and searches; an expired reservation no longer counts', async () => {
  const created = await t.post('/products', { name: 'Reserved Lamp', sku: 'RES-LAMP', price: 3, quantity: 10 });
  const product = (await created.json()) as Product;
  expect(product.available).toBe(10);
  await t.db.sql`SELECT stock_reserve(${product.id}, default_location(), 3, now() + interval '1 hour', 'order-1')`;
  await t.db.sql`SELECT stock_reserve(${product.id}, default_location(), 2, now() + interval '1 second')`;
  const seen = async () => {
    const one = (await (await t.request(`/products/${product.id}`)).json()) as Product;
    const listed = ((await (await t.request('/products?sku=RES-LAMP')).json()) as Product[])[0]!;
    const found = ((await (await t.request('/products?q=RES-LAMP')).json()) as Product[])[0]!;
    return [one, listed, found].map((p) => [p.quantity, p.available]);
  };
  expect(await seen()).toEqual([
    [10, 5],
    [10, 5],
    [10, 5],
  ]);
  await Bun.sleep(1100);
  expect(await seen()).toEqual([
    [10, 7],
    [10, 7],
    [10, 7],
  ]);
  // A sale may take only what is available.
  const sale = await t.post(`/products/${product.id}/stock-adjustments`, { delta: -8, reason: 'sold' });
  expect(sale.status).toBe(409);
  expect(((await sale.json()) as { code: string }).code).toBe('insufficient_stock');
  const fits = await t.post(`/products/${product.id}/stock-adjustments`, { delta: -7, reason: 'sold' });
  expect(fits.status).toBe(201);
  expect(((await fits.json()) as { product: Product }).product).toMatchObject({ quantity: 3, available: 0 });
});
