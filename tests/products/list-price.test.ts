// Listings send the price as PostgreSQL's float8 text of the stored numeric(10,2);
// it must be the same JSON number as the product's own page shows, for every
// price a product can have, and price cursors must resume exactly after it.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

// Decimal fractions that binary floating point cannot hold exactly, the extremes, and long integers.
const PRICES = [
  '0.00',
  '0.01',
  '0.07',
  '0.10',
  '0.29',
  '0.30',
  '1.15',
  '4.35',
  '8.20',
  '19.99',
  '1234567.89',
  '9007199.25',
  '12345678.91',
  '99999999.98',
  '99999999.99',
];

test('a listing shows each price as the same JSON number as GET by id, and price cursors step through all of them', async () => {
  const ids: number[] = [];
  for (const [i, price] of PRICES.entries()) {
    const res = await t.post('/products', { name: `Priced ${i}`, price, category: 'Price checks' });
    expect(res.status).toBe(201);
    ids.push(((await res.json()) as { id: number }).id);
  }
  const seen: { id: number; price: number }[] = [];
  let url: string | undefined = '/products?category=Price%20checks&sort=price&limit=2';
  while (url) {
    const res: Response = await t.request(url);
    expect(res.status).toBe(200);
    const text = await res.text();
    seen.push(...(JSON.parse(text) as { id: number; price: number }[]));
    url = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
  }
  expect(seen.map((p) => p.id)).toEqual(ids);
  for (const [i, p] of seen.entries()) {
    expect(p.price).toBe(Number(PRICES[i]));
    const one = (await (await t.request(`/products/${p.id}`)).json()) as { price: number };
    expect(one.price).toBe(p.price);
  }
});
