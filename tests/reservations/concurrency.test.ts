import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, listen, type TestApp } from '../support/app.ts';
import { json } from '../support/values.ts';
import { createProduct, defaultLocation, expectLedgerWhole, stockOf } from '../transfers/support.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ poolMax: 20 });
});
afterAll(async () => {
  await t?.close();
});

describe('reservations under concurrency', () => {
  test('100 reservations of 1 on 60 available hold exactly 60; then sales find none available; 10 releases let exactly 10 sales through', async () => {
    const product = await createProduct(t, 60);
    const home = await defaultLocation(t);
    const server = listen(t.app);
    const post = (path: string, body: unknown) =>
      server
        .fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
        .then(async (res) => ({ status: res.status, body: await json(res) }));
    const sellOne = () => post(`/products/${product}/stock-adjustments`, { delta: -1, reason: 'sold' });
    const count = (answers: { status: number }[], status: number) => answers.filter((a) => a.status === status).length;
    try {
      const reservations = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          post('/reservations', { product, quantity: 1, expires_in_s: 3600, reference: `o-${i}` }),
        ),
      );
      expect([count(reservations, 201), count(reservations, 409)]).toEqual([60, 40]);
      for (const r of reservations) if (r.status === 409) expect(r.body.code).toBe('insufficient_stock');
      expect((await stockOf(t, product)).levels).toEqual([{ location_id: home, on_hand: 60, reserved: 60 }]);

      const sales = await Promise.all(Array.from({ length: 100 }, sellOne));
      expect([count(sales, 201), count(sales, 409)]).toEqual([0, 100]);
      for (const s of sales) expect(s.body.code).toBe('insufficient_stock');

      const held = reservations.filter((r) => r.status === 201).map((r) => r.body.id as number);
      const released = await Promise.all(
        held.slice(0, 10).map((id) => server.fetch(`/reservations/${id}`, { method: 'DELETE' }).then((res) => res.status)),
      );
      expect(released).toEqual(Array(10).fill(200));

      const moreSales = await Promise.all(Array.from({ length: 100 }, sellOne));
      expect([count(moreSales, 201), count(moreSales, 409)]).toEqual([10, 90]);
    } finally {
      server.stop();
    }
    const after = await stockOf(t, product);
    expect(after.quantity).toBe(50);
    expect(after.levels).toEqual([{ location_id: home, on_hand: 50, reserved: 50 }]);
    await expectLedgerWhole(t, product);
  });
});
