import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import { expectProblem } from '../support/problem.ts';
import { within } from '../support/time.ts';
import { json } from '../support/values.ts';
import { createLocation, createProduct, defaultLocation, expectLedgerWhole, stockOf } from '../transfers/support.ts';

let t: TestApp;
let home: number;
beforeAll(async () => {
  t = await createTestApp();
  home = await defaultLocation(t);
});
afterAll(async () => {
  await t?.close();
});

const reserve = (body: unknown, headers: Record<string, string> = {}) => t.post('/reservations', body, headers);
const release = (id: number) => t.request(`/reservations/${id}`, { method: 'DELETE' });
const fulfil = (id: number, body?: unknown) =>
  body === undefined ? t.request(`/reservations/${id}/fulfil`, { method: 'POST' }) : t.post(`/reservations/${id}/fulfil`, body);

/** Waits, bounded, until the database's clock is past the reservation's expiry. */
async function untilExpired(id: number) {
  const past = async () => {
    for (;;) {
      const [row] = await t.db.sql<{ past: boolean }[]>`SELECT expires_at <= now() AS past FROM reservations WHERE id = ${id}`;
      if (row!.past) return;
      await Bun.sleep(50);
    }
  };
  await within(5_000, past());
}

describe('POST /reservations: happy path', () => {
  test('holds units at the default location: 201 open, and they are no longer available', async () => {
    const product = await createProduct(t, 5);
    const res = await reserve({ product, quantity: 3, expires_in_s: 600, reference: 'order-1' });
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body).toEqual({
      id: expect.any(Number),
      product_id: product,
      location_id: home,
      quantity: 3,
      expires_at: expect.any(String),
      reference: 'order-1',
      state: 'open',
      created_at: expect.any(String),
      closed_at: null,
    });
    const seconds = (Date.parse(body.expires_at) - Date.parse(body.created_at)) / 1000;
    expect(seconds).toBeCloseTo(600, 0);
    expect((await stockOf(t, product)).levels).toEqual([{ location_id: home, on_hand: 5, reserved: 3 }]);
    await expectProblem(await reserve({ product, quantity: 3, expires_in_s: 600 }), 409, 'insufficient_stock');
    await expectProblem(
      await t.post(`/products/${product}/stock-adjustments`, { delta: -3, reason: 'sold' }),
      409,
      'insufficient_stock',
    );
    expect((await t.request(`/reservations/${body.id}`).then(json)).state).toBe('open');
  });

  test('takes an explicit location and expires_at', async () => {
    const product = await createProduct(t, 4);
    const shop = await createLocation(t);
    expect((await t.post('/transfers', { product, from: home, to: shop, quantity: 2 })).status).toBe(201);
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const res = await reserve({ product, location: shop, quantity: 2, expires_at: expiresAt });
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body).toMatchObject({ location_id: shop, quantity: 2, state: 'open' });
    expect(Date.parse(body.expires_at)).toBe(Date.parse(expiresAt));
  });

  test('an Idempotency-Key replay returns the same reservation without reserving twice', async () => {
    const product = await createProduct(t, 5);
    const headers = { 'idempotency-key': `reserve-${product}` };
    const request = { product, quantity: 2, expires_in_s: 600 };
    const first = await reserve(request, headers);
    expect(first.status).toBe(201);
    const again = await reserve(request, headers);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await json(again)).toEqual(await json(first));
    const [row] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM reservations WHERE product_id = ${product}`;
    expect(row!.n).toBe(1);
    expect((await stockOf(t, product)).levels).toEqual([{ location_id: home, on_hand: 5, reserved: 2 }]);
  });
});

describe('POST /reservations: refused', () => {
  test.each([
    ['neither expiry', { quantity: 1 }, ['expires_in_s']],
    ['both expiries', { quantity: 1, expires_in_s: 60, expires_at: '2099-01-01T00:00:00Z' }, ['expires_in_s']],
    ['expires_in_s 0', { quantity: 1, expires_in_s: 0 }, ['expires_in_s']],
    ['expires_in_s over 30 days', { quantity: 1, expires_in_s: 30 * 86400 + 1 }, ['expires_in_s']],
    ['expires_at not a date-time', { quantity: 1, expires_at: 'tomorrow' }, ['expires_at']],
    ['quantity 0', { quantity: 0, expires_in_s: 60 }, ['quantity']],
    ['an unknown field', { quantity: 1, expires_in_s: 60, colour: 'red' }, ['colour']],
  ])('%s: 422', async (_, change, paths) => {
    const problem = await expectProblem(await reserve({ product: 1, ...change }), 422, 'validation_failed');
    expect(problem.errors.map((e: { path: string }) => e.path)).toEqual(paths);
  });

  test('an expires_at in the past or beyond 30 days: 422 naming it, nothing reserved', async () => {
    const product = await createProduct(t, 5);
    for (const at of [new Date(Date.now() - 1000).toISOString(), new Date(Date.now() + 31 * 86_400_000).toISOString()]) {
      const problem = await expectProblem(await reserve({ product, quantity: 1, expires_at: at }), 422, 'validation_failed');
      expect(problem.errors.map((e: { path: string }) => e.path)).toEqual(['expires_at']);
    }
    expect((await stockOf(t, product)).levels[0]!.reserved).toBe(0);
  });

  test('an unknown product or location: 404', async () => {
    const product = await createProduct(t, 5);
    await expectProblem(await reserve({ product: 987654321, quantity: 1, expires_in_s: 60 }), 404, 'not_found');
    await expectProblem(await reserve({ product, location: 987654321, quantity: 1, expires_in_s: 60 }), 404, 'not_found');
  });
});

describe('expiry', () => {
  test('a reservation past its expiry no longer holds stock, is shown expired, and cannot be fulfilled or released', async () => {
    const product = await createProduct(t, 5);
    const res = await reserve({ product, quantity: 5, expires_in_s: 1, reference: 'short' });
    expect(res.status).toBe(201);
    const { id } = await json(res);
    await expectProblem(await reserve({ product, quantity: 1, expires_in_s: 60 }), 409, 'insufficient_stock');
    await untilExpired(id);

    const shown = await json(await t.request(`/reservations/${id}`));
    expect(shown.state).toBe('expired');
    expect(shown.closed_at).toBe(shown.expires_at);
    const expired = await json(await t.request(`/reservations?product=${product}&state=expired`));
    expect(expired.map((r: { id: number }) => r.id)).toEqual([id]);
    expect(await json(await t.request(`/reservations?product=${product}&state=open`))).toEqual([]);

    const before = await stockOf(t, product);
    expect(before.levels).toEqual([{ location_id: home, on_hand: 5, reserved: 0 }]);
    await expectProblem(await fulfil(id), 409, 'reservation_closed');
    await expectProblem(await release(id), 409, 'reservation_closed');
    expect(await stockOf(t, product)).toEqual(before);

    // Its units are available again: all five can be sold.
    expect((await t.post(`/products/${product}/stock-adjustments`, { delta: -5, reason: 'sold' })).status).toBe(201);
  });
});

describe('POST /reservations/{id}/fulfil', () => {
  test("writes a 'sold' movement with the reservation's reference and id; quantity, on hand and reserved go down", async () => {
    const product = await createProduct(t, 10);
    const { id } = await json(await reserve({ product, quantity: 4, expires_in_s: 600, reference: 'order-77' }));
    expect((await stockOf(t, product)).levels).toEqual([{ location_id: home, on_hand: 10, reserved: 4 }]);
    const res = await fulfil(id, { note: 'shipped' });
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body.movement).toMatchObject({
      product_id: product,
      location_id: home,
      delta: -4,
      reason: 'sold',
      note: 'shipped',
      quantity_after: 6,
      reference: 'order-77',
      reservation_id: id,
      transfer_id: null,
    });
    expect(body.product).toMatchObject({ id: product, quantity: 6 });
    expect(res.headers.get('etag')).toBe((await t.request(`/products/${product}`)).headers.get('etag'));
    const after = await stockOf(t, product);
    expect(after.quantity).toBe(6);
    expect(after.levels).toEqual([{ location_id: home, on_hand: 6, reserved: 0 }]);
    expect(after.movements.at(-1)).toEqual({ id: body.movement.id, location_id: home, delta: -4, reason: 'sold' });
    await expectLedgerWhole(t, product);
    const shown = await json(await t.request(`/reservations/${id}`));
    expect(shown).toMatchObject({ state: 'fulfilled', closed_at: expect.any(String) });

    await expectProblem(await fulfil(id), 409, 'reservation_closed');
    await expectProblem(await release(id), 409, 'reservation_closed');
    expect(await stockOf(t, product)).toEqual(after);
  });

  test('takes no body at all', async () => {
    const product = await createProduct(t, 2);
    const { id } = await json(await reserve({ product, quantity: 1, expires_in_s: 600 }));
    const res = await fulfil(id);
    expect(res.status).toBe(201);
    expect((await json(res)).movement.note).toBeNull();
  });

  test('an unknown reservation: 404', async () => {
    await expectProblem(await fulfil(987654321), 404, 'not_found');
  });
});

describe('DELETE /reservations/{id}', () => {
  test('releases: 200 with the reservation released, its units available again; again: 409', async () => {
    const product = await createProduct(t, 3);
    const { id } = await json(await reserve({ product, quantity: 3, expires_in_s: 600 }));
    const res = await release(id);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ id, state: 'released', closed_at: expect.any(String) });
    expect((await stockOf(t, product)).levels).toEqual([{ location_id: home, on_hand: 3, reserved: 0 }]);
    await expectProblem(await release(id), 409, 'reservation_closed');
    await expectProblem(await fulfil(id), 409, 'reservation_closed');
  });

  test('an unknown reservation: 404; GET too', async () => {
    await expectProblem(await release(987654321), 404, 'not_found');
    await expectProblem(await t.request('/reservations/987654321'), 404, 'not_found');
  });
});

describe('GET /reservations', () => {
  test('pages newest first through Link rel="next", filtered by product, location, reference and state', async () => {
    const product = await createProduct(t, 10);
    const ids: number[] = [];
    for (const reference of ['a-1', 'a-2', 'a-1', 'a-3']) {
      ids.push((await json(await reserve({ product, quantity: 1, expires_in_s: 600, reference }))).id);
    }
    expect((await release(ids[1]!)).status).toBe(200);
    expect((await fulfil(ids[3]!)).status).toBe(201);

    const seen: number[] = [];
    let next: string | undefined = `/reservations?product=${product}&limit=3`;
    while (next) {
      const res = await t.request(next);
      expect(res.status).toBe(200);
      seen.push(...(await json(res)).map((r: { id: number }) => r.id));
      next = /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
    }
    expect(seen).toEqual([...ids].reverse());

    const list = async (query: string) =>
      (await json(await t.request(`/reservations?product=${product}&${query}`))).map((r: { id: number }) => r.id);
    expect(await list('reference=a-1')).toEqual([ids[2], ids[0]]);
    expect(await list('state=open')).toEqual([ids[2], ids[0]]);
    expect(await list('state=released')).toEqual([ids[1]]);
    expect(await list('state=fulfilled')).toEqual([ids[3]]);
    expect(await list(`location=${home}&state=expired`)).toEqual([]);
    expect(await list(`location=${home + 1000}`)).toEqual([]);
  });

  test('refuses an unknown state, a filter that is not an id, and a cursor it did not write', async () => {
    await expectProblem(await t.request('/reservations?state=closed'), 422, 'validation_failed');
    await expectProblem(await t.request('/reservations?product=1.0'), 422, 'validation_failed');
    await expectProblem(await t.request('/reservations?cursor=abc'), 422, 'validation_failed');
  });
});
