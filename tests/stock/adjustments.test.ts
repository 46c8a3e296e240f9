import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, listen, type TestApp } from '../support/app.ts';
import { expectProblem } from '../support/problem.ts';
import { json, unique } from '../support/values.ts';
import { documentedFetch } from '../support/contract.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ poolMax: 20 });
});
afterAll(async () => {
  await t?.close();
});

const CLIENT_REASONS = ['received', 'sold', 'returned', 'damaged', 'count_correction'] as const;

async function createProduct(quantity: number): Promise<{ id: number; etag: string }> {
  const res = await t.post('/products', { name: unique('Widget'), price: 2.5, quantity, category: 'Stock' });
  expect(res.status).toBe(201);
  return { id: (await json(res)).id, etag: res.headers.get('etag')! };
}

const adjust = (id: number, body: unknown, headers: Record<string, string> = {}) =>
  t.post(`/products/${id}/stock-adjustments`, body, headers);

/** The product's quantity and version as stored, and how many movements it has. */
async function ledgerOf(id: number) {
  const [row] = await t.db.sql<{ quantity: number; version: number; movements: number }[]>`
    SELECT p.quantity, p.version,
           (SELECT count(*)::int FROM stock_movements m WHERE m.product_id = p.id) AS movements
    FROM products p WHERE p.id = ${id}`;
  return row!;
}

/** The distinct field paths a 422 validation_failed names. */
async function refusedPaths(res: Response): Promise<string[]> {
  const body = await expectProblem(res, 422, 'validation_failed');
  return [...new Set<string>(body.errors.map((e: { path: string }) => e.path))].sort();
}

describe('POST /products/{id}/stock-adjustments: happy path', () => {
  test('answers 201 with the movement and the product after it, and the ETag of the new version', async () => {
    const { id, etag: createdEtag } = await createProduct(10);
    const res = await adjust(id, { delta: 5, reason: 'received', note: 'PO 1042' });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toStartWith('application/json');
    const body = await json(res);
    expect(Object.keys(body).sort()).toEqual(['movement', 'product']);
    expect(body.movement).toEqual({
      id: expect.any(Number),
      product_id: id,
      location_id: expect.any(Number),
      delta: 5,
      reason: 'received',
      note: 'PO 1042',
      quantity_after: 15,
      reference: null,
      transfer_id: null,
      reservation_id: null,
      created_at: expect.any(String),
    });
    expect(body.product).toMatchObject({ id, quantity: 15, category: 'Stock', price: 2.5 });

    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(etag).not.toBe(createdEtag);
    const fetched = await t.request(`/products/${id}`);
    expect(fetched.headers.get('etag')).toBe(etag);
    expect(await json(fetched)).toEqual(body.product);

    const [movement] = await t.db.sql`
      SELECT product_id, delta, reason, note, quantity_after FROM stock_movements WHERE id = ${body.movement.id}`;
    expect(movement).toEqual({ product_id: id, delta: 5, reason: 'received', note: 'PO 1042', quantity_after: 15 });
    expect(await ledgerOf(id)).toMatchObject({ quantity: 15, movements: 2 });
  });

  test.each(CLIENT_REASONS)('accepts the reason %s and records it', async (reason) => {
    const { id } = await createProduct(3);
    const res = await adjust(id, { delta: -1, reason });
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body.movement).toMatchObject({ reason, delta: -1, quantity_after: 2, note: null });
    const [row] = await t.db.sql`SELECT reason FROM stock_movements WHERE id = ${body.movement.id}`;
    expect(row!.reason).toBe(reason);
  });

  test('takes stock down to exactly zero', async () => {
    const { id } = await createProduct(4);
    const res = await adjust(id, { delta: -4, reason: 'sold' });
    expect(res.status).toBe(201);
    expect((await json(res)).product.quantity).toBe(0);
    expect(await ledgerOf(id)).toMatchObject({ quantity: 0, movements: 2 });
  });

  test('accepts a note of exactly 500 characters and a null note', async () => {
    const { id } = await createProduct(0);
    const long = await adjust(id, { delta: 1, reason: 'received', note: 'n'.repeat(500) });
    expect(long.status).toBe(201);
    expect((await json(long)).movement.note).toBe('n'.repeat(500));
    const none = await adjust(id, { delta: 1, reason: 'received', note: null });
    expect(none.status).toBe(201);
    expect((await json(none)).movement.note).toBeNull();
  });
});

describe('POST /products/{id}/stock-adjustments: refused input writes nothing', () => {
  const cases: [string, unknown, string[]][] = [
    ['reason initial (written only at creation)', { delta: 1, reason: 'initial' }, ['reason']],
    ['an unknown reason', { delta: 1, reason: 'stolen' }, ['reason']],
    ['a missing reason', { delta: 1 }, ['reason']],
    ['delta 0', { delta: 0, reason: 'received' }, ['delta']],
    ['a fractional delta', { delta: 1.5, reason: 'received' }, ['delta']],
    ['a delta sent as a string', { delta: '3', reason: 'received' }, ['delta']],
    ['a missing delta', { reason: 'received' }, ['delta']],
    ['a delta outside the integer range', { delta: 2147483648, reason: 'received' }, ['delta']],
    ['a note over 500 characters', { delta: 1, reason: 'received', note: 'n'.repeat(501) }, ['note']],
    ['an unknown field', { delta: 1, reason: 'received', quantity: 9 }, ['quantity']],
    ['several bad fields at once', { delta: 0, reason: 'initial', extra: true }, ['delta', 'extra', 'reason']],
  ];

  test.each(cases)('refuses %s with 422 naming the field', async (_, body, paths) => {
    const { id } = await createProduct(5);
    const before = await ledgerOf(id);
    expect(await refusedPaths(await adjust(id, body))).toEqual(paths);
    expect(await ledgerOf(id)).toEqual(before);
  });

  test('names an unknown field as such', async () => {
    const { id } = await createProduct(5);
    const body = await expectProblem(await adjust(id, { delta: 1, reason: 'received', colour: 'red' }), 422, 'validation_failed');
    expect(body.errors).toEqual([{ path: 'colour', message: 'unknown field' }]);
  });

  test('refuses an adjustment that would overflow the stored quantity and writes nothing', async () => {
    const { id } = await createProduct(2147483647);
    const before = await ledgerOf(id);
    await expectProblem(await adjust(id, { delta: 1, reason: 'received' }), 422, 'validation_failed');
    expect(await ledgerOf(id)).toEqual(before);
  });
});

describe('POST /products/{id}/stock-adjustments: errors', () => {
  test('refuses to take stock below zero with 409 insufficient_stock and writes nothing', async () => {
    const { id } = await createProduct(3);
    const before = await ledgerOf(id);
    const body = await expectProblem(await adjust(id, { delta: -4, reason: 'sold', note: 'order 7' }), 409, 'insufficient_stock');
    expect(body.status).toBe(409);
    expect(await ledgerOf(id)).toEqual(before);
    expect(before).toMatchObject({ quantity: 3, movements: 1 });
    const [notes] = await t.db.sql`SELECT count(*)::int AS n FROM stock_movements WHERE note = 'order 7'`;
    expect(notes!.n).toBe(0);
  });

  test('refuses any removal from an empty product', async () => {
    const { id } = await createProduct(0);
    await expectProblem(await adjust(id, { delta: -1, reason: 'damaged' }), 409, 'insufficient_stock');
    expect(await ledgerOf(id)).toMatchObject({ quantity: 0, movements: 0 });
  });

  test('answers 404 for an unknown product', async () => {
    await expectProblem(await adjust(987654321, { delta: 1, reason: 'received' }), 404, 'not_found');
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM stock_movements WHERE product_id = 987654321`;
    expect(row!.n).toBe(0);
  });

  test('answers 404 for an archived product and writes nothing', async () => {
    const { id } = await createProduct(5);
    expect((await t.request(`/products/${id}`, { method: 'DELETE' })).status).toBe(204);
    const before = await ledgerOf(id);
    await expectProblem(await adjust(id, { delta: 1, reason: 'received' }), 404, 'not_found');
    await expectProblem(await adjust(id, { delta: -1, reason: 'sold' }), 404, 'not_found');
    expect(await ledgerOf(id)).toEqual(before);
  });

  test('answers 422 for a product id that is not a positive integer', async () => {
    expect(await refusedPaths(await adjust('abc' as unknown as number, { delta: 1, reason: 'received' }))).toEqual(['id']);
    expect(await refusedPaths(await adjust(0, { delta: 1, reason: 'received' }))).toEqual(['id']);
  });
});

describe('POST /products/{id}/stock-adjustments: concurrency', () => {
  test('100 concurrent sales of one unit from 60 in stock sell exactly 60 and refuse 40', async () => {
    const { id } = await createProduct(60);
    const server = listen(t.app);
    try {
      const responses = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          documentedFetch(`${server.base}/products/${id}/stock-adjustments`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ delta: -1, reason: 'sold', note: `order ${i}` }),
          }).then(async (res) => ({ status: res.status, body: await json(res) })),
        ),
      );
      const sold = responses.filter((r) => r.status === 201);
      const refused = responses.filter((r) => r.status === 409);
      expect(sold.length).toBe(60);
      expect(refused.length).toBe(40);
      for (const r of refused) expect(r.body.code).toBe('insufficient_stock');
      // Each sale saw a different stock level: 59 down to 0, once each.
      expect(sold.map((r) => r.body.movement.quantity_after).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 60 }, (_, i) => i),
      );
    } finally {
      server.stop();
    }
    expect(await ledgerOf(id)).toMatchObject({ quantity: 0, movements: 61 });
    const [row] = await t.db.sql<{ n: number; total: number }[]>`
      SELECT count(*)::int AS n, sum(delta)::int AS total FROM stock_movements WHERE product_id = ${id} AND reason = 'sold'`;
    expect(row).toEqual({ n: 60, total: -60 });
  });

  test('compare and set: concurrent adjustments expecting the same on hand, one 201 and the others 409 quantity_changed', async () => {
    const server = listen(t.app);
    try {
      for (let round = 0; round < 10; round++) {
        const { id } = await createProduct(10);
        // Two to five clients each counted 10 and set their own count; one count wins.
        const clients = 2 + (round % 4);
        const responses = await Promise.all(
          Array.from({ length: clients }, (_, i) =>
            documentedFetch(`${server.base}/products/${id}/stock-adjustments`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ delta: i + 1, reason: 'count_correction', expected_on_hand: 10 }),
            }).then(async (res) => ({ status: res.status, body: await json(res) })),
          ),
        );
        const applied = responses.filter((r) => r.status === 201);
        expect(applied.length, `round ${round}`).toBe(1);
        for (const r of responses.filter((r) => r.status !== 201)) {
          expect(r.status).toBe(409);
          expect(r.body.code).toBe('quantity_changed');
        }
        const winner = applied[0]!.body.movement as { delta: number };
        expect(await ledgerOf(id)).toMatchObject({ quantity: 10 + winner.delta, movements: 2 });
      }
    } finally {
      server.stop();
    }
  });
});
