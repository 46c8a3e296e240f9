import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import { expectProblem } from '../support/problem.ts';
import type { StockMovement } from '../support/types.ts';
import { json, unique } from '../support/values.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

/** A product with an 'initial' movement of `initial` (when > 0) followed by `adjustments` +1 movements. */
async function productWithMovements(initial: number, adjustments: number): Promise<number> {
  const res = await t.post('/products', { name: unique('Ledger item'), price: 1, quantity: initial });
  expect(res.status).toBe(201);
  const { id } = await json(res);
  for (let i = 0; i < adjustments; i++) {
    const adj = await t.post(`/products/${id}/stock-adjustments`, { delta: 1, reason: 'received', note: `lot ${i}` });
    expect(adj.status).toBe(201);
  }
  return id;
}

async function movementIdsInDb(productId: number): Promise<number[]> {
  const rows = await t.db.sql<{ id: number }[]>`SELECT id FROM stock_movements WHERE product_id = ${productId} ORDER BY id DESC`;
  return rows.map((r) => r.id);
}

/** The target of a Link rel="next" header, or null. */
function nextOf(res: Response): string | null {
  const link = res.headers.get('link');
  if (!link) return null;
  const match = /^<([^>]+)>;\s*rel="next"$/.exec(link);
  expect(match).not.toBeNull();
  return match![1]!;
}

describe('GET /products/{id}/stock-movements: listing', () => {
  test('lists the movements newest first, with every field', async () => {
    const id = await productWithMovements(5, 3);
    const res = await t.request(`/products/${id}/stock-movements`);
    expect(res.status).toBe(200);
    expect(res.headers.get('link')).toBeNull();
    const rows: StockMovement[] = await json(res);
    expect(rows.map((m) => m.id)).toEqual(await movementIdsInDb(id));
    expect(rows.map((m) => [m.delta, m.reason, m.quantity_after])).toEqual([
      [1, 'received', 8],
      [1, 'received', 7],
      [1, 'received', 6],
      [5, 'initial', 5],
    ]);
    expect(rows[0]).toEqual({
      id: expect.any(Number),
      product_id: id,
      location_id: expect.any(Number),
      delta: 1,
      reason: 'received',
      note: 'lot 2',
      quantity_after: 8,
      reference: null,
      transfer_id: null,
      reservation_id: null,
      created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/),
    });
  });

  test("lists only the product's own movements", async () => {
    const a = await productWithMovements(2, 1);
    const b = await productWithMovements(3, 2);
    const rows: StockMovement[] = await json(await t.request(`/products/${a}/stock-movements`));
    expect(rows.length).toBe(2);
    expect(rows.every((m) => m.product_id === a)).toBe(true);
    expect(rows.some((m) => m.product_id === b)).toBe(false);
  });

  test('answers an empty list for a product that never had stock', async () => {
    const id = await productWithMovements(0, 0);
    const res = await t.request(`/products/${id}/stock-movements`);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual([]);
    expect(res.headers.get('link')).toBeNull();
  });

  test('still lists the movements of an archived product', async () => {
    const id = await productWithMovements(4, 2);
    expect((await t.request(`/products/${id}`, { method: 'DELETE' })).status).toBe(204);
    const res = await t.request(`/products/${id}/stock-movements`);
    expect(res.status).toBe(200);
    expect(((await json(res)) as StockMovement[]).map((m) => m.id)).toEqual(await movementIdsInDb(id));
  });

  test('answers 404 for an unknown product', async () => {
    await expectProblem(await t.request('/products/987654321/stock-movements'), 404, 'not_found');
  });
});

describe('GET /products/{id}/stock-movements: keyset pagination', () => {
  test('walking the Link rel="next" pages visits every movement exactly once, newest first', async () => {
    const id = await productWithMovements(1, 25); // 26 movements
    const seen: number[] = [];
    const pageSizes: number[] = [];
    let next: string | null = `/products/${id}/stock-movements?limit=7`;
    for (let pages = 0; next !== null; pages++) {
      expect(pages).toBeLessThan(10);
      const res = await t.request(next);
      expect(res.status).toBe(200);
      const rows: StockMovement[] = await json(res);
      pageSizes.push(rows.length);
      seen.push(...rows.map((m) => m.id));
      next = nextOf(res);
      if (next) expect(next).toStartWith(`/products/${id}/stock-movements?`);
      if (next) expect(new URL(next, 'http://x').searchParams.get('limit')).toBe('7');
    }
    expect(pageSizes).toEqual([7, 7, 7, 5]);
    expect(new Set(seen).size).toBe(26);
    expect(seen).toEqual(await movementIdsInDb(id));
  });

  test('gives no next link when the page holds exactly the remaining movements', async () => {
    const id = await productWithMovements(1, 2); // 3 movements
    const full = await t.request(`/products/${id}/stock-movements?limit=3`);
    expect(((await json(full)) as StockMovement[]).length).toBe(3);
    expect(full.headers.get('link')).toBeNull();

    const first = await t.request(`/products/${id}/stock-movements?limit=2`);
    expect(((await json(first)) as StockMovement[]).length).toBe(2);
    const second = await t.request(nextOf(first)!);
    expect(((await json(second)) as StockMovement[]).length).toBe(1);
    expect(second.headers.get('link')).toBeNull();
  });

  test('a page started before new movements arrive continues without repeats or gaps', async () => {
    const id = await productWithMovements(1, 5);
    const before = await movementIdsInDb(id);
    const first = await t.request(`/products/${id}/stock-movements?limit=3`);
    const firstIds = ((await json(first)) as StockMovement[]).map((m) => m.id);
    expect((await t.post(`/products/${id}/stock-adjustments`, { delta: 1, reason: 'returned' })).status).toBe(201);
    const rest = ((await json(await t.request(nextOf(first)!))) as StockMovement[]).map((m) => m.id);
    expect([...firstIds, ...rest]).toEqual(before);
  });

  test.each([
    ['1', 1],
    ['1000', 1000],
  ])('accepts limit=%s', async (limit, expected) => {
    const id = await productWithMovements(1, 2);
    const res = await t.request(`/products/${id}/stock-movements?limit=${limit}`);
    expect(res.status).toBe(200);
    expect(((await json(res)) as StockMovement[]).length).toBe(Math.min(expected, 3));
  });

  test.each(['0', '1001', '-1', '2.5', 'abc'])('refuses limit=%s with 422', async (limit) => {
    const id = await productWithMovements(1, 0);
    const body = await expectProblem(await t.request(`/products/${id}/stock-movements?limit=${limit}`), 422, 'validation_failed');
    expect(body.errors.map((e: { path: string }) => e.path)).toContain('limit');
  });

  const foreign = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  test.each([
    ['garbage', 'not-a-cursor!!'],
    ['a products cursor', foreign(['name', 'Lamp', 3])],
    ['a movements cursor with a negative id', foreign(['movements', -5])],
    ['a movements cursor with a text id', foreign(['movements', '5'])],
    ['an over-long cursor', foreign(['movements', 5, 'x'.repeat(200)])],
  ])('refuses %s with 422', async (_, cursor) => {
    const id = await productWithMovements(1, 0);
    const body = await expectProblem(
      await t.request(`/products/${id}/stock-movements?cursor=${encodeURIComponent(cursor)}`),
      422,
      'validation_failed',
    );
    expect(body.errors.map((e: { path: string }) => e.path)).toEqual(['cursor']);
  });
});
