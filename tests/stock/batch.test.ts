import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, listen, type TestApp } from '../support/app.ts';
import { expectProblem } from '../support/problem.ts';
import { json, unique } from '../support/values.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ poolMax: 20 });
});
afterAll(async () => {
  await t?.close();
});

type Item = {
  product: number;
  delta: number;
  reason: string;
  location?: number;
  expected_on_hand?: number;
  reference?: string;
  note?: string;
};

async function createProduct(quantity: number): Promise<number> {
  const res = await t.post('/products', { name: unique('Batch item'), price: 2.5, quantity, category: 'Batch' });
  expect(res.status).toBe(201);
  return (await json(res)).id;
}

async function createLocation(): Promise<number> {
  const code = unique('LOC').replace(' ', '-');
  const [row] = await t.db.sql<{ id: number }[]>`INSERT INTO locations (code, name) VALUES (${code}, ${code}) RETURNING id`;
  return row!.id;
}

const batch = (adjustments: Item[], headers: Record<string, string> = {}) =>
  t.post('/stock-adjustments', { adjustments }, headers);

/** Every level of these products: on hand, and the sum of its movements' deltas. */
async function levelsOf(ids: number[]) {
  return t.db.sql<{ product_id: number; location_id: number; on_hand: number; ledger: number }[]>`
    SELECT l.product_id, l.location_id, l.on_hand,
           (SELECT coalesce(sum(m.delta), 0)::int FROM stock_movements m
            WHERE m.product_id = l.product_id AND m.location_id = l.location_id) AS ledger
    FROM stock_levels l WHERE l.product_id = ANY(${ids}::bigint[])
    ORDER BY l.product_id, l.location_id`;
}

async function quantityOf(id: number): Promise<number> {
  const [row] = await t.db.sql<{ quantity: number }[]>`SELECT quantity FROM products WHERE id = ${id}`;
  return row!.quantity;
}

async function movementCount(ids: number[]): Promise<number> {
  const [row] = await t.db.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM stock_movements WHERE product_id = ANY(${ids}::bigint[])`;
  return row!.n;
}

/** The ledger holds for these products: each level is the sum of its movements, each quantity the sum of its levels. */
async function expectLedgerConsistent(ids: number[]) {
  const levels = await levelsOf(ids);
  for (const level of levels) expect(level.on_hand).toBe(level.ledger);
  for (const id of ids) {
    const sum = levels.filter((l) => l.product_id === id).reduce((total, l) => total + l.on_hand, 0);
    expect(await quantityOf(id)).toBe(sum);
  }
}

describe('POST /stock-adjustments: happy path', () => {
  test('applies every item and answers the movements in item order and the products after them', async () => {
    const [a, b] = [await createProduct(10), await createProduct(5)];
    const store = await createLocation();
    const res = await batch([
      { product: b, delta: -2, reason: 'sold', reference: 'order-1' },
      { product: a, location: store, delta: 4, reason: 'received', note: 'PO 7' },
      { product: a, delta: -3, reason: 'sold' },
    ]);
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body.movements.map((m: any) => [m.product_id, m.delta, m.quantity_after])).toEqual([
      [b, -2, 3],
      [a, 4, 4],
      [a, -3, 7],
    ]);
    expect(body.movements[0]).toMatchObject({ reason: 'sold', reference: 'order-1' });
    expect(body.movements[1]).toMatchObject({ location_id: store, note: 'PO 7' });
    expect(body.products.map((p: any) => [p.id, p.quantity])).toEqual(
      [
        [a, 11],
        [b, 3],
      ].sort((x, y) => x[0]! - y[0]!),
    );
    await expectLedgerConsistent([a, b]);
  });

  test('items on one level apply in the order of their index, each seeing the ones before it', async () => {
    const id = await createProduct(0);
    // Received then sold: fine. Sold then received: the sale finds nothing.
    const ok = await batch([
      { product: id, delta: 5, reason: 'received' },
      { product: id, delta: -5, reason: 'sold' },
    ]);
    expect(ok.status).toBe(201);
    expect((await json(ok)).movements.map((m: any) => m.quantity_after)).toEqual([5, 0]);
    const refused = await batch([
      { product: id, delta: -5, reason: 'sold' },
      { product: id, delta: 5, reason: 'received' },
    ]);
    const problem = await expectProblem(refused, 409, 'insufficient_stock');
    expect(problem.errors.map((e: any) => e.path)).toEqual(['adjustments[0]']);
  });

  test('expected_on_hand is checked per item, against the level as the items before it left it', async () => {
    const id = await createProduct(10);
    const res = await batch([
      { product: id, delta: 5, reason: 'received', expected_on_hand: 10 },
      { product: id, delta: -1, reason: 'sold', expected_on_hand: 15 },
    ]);
    expect(res.status).toBe(201);
    const before = await movementCount([id]);
    const stale = await batch([
      { product: id, delta: 1, reason: 'received', expected_on_hand: 14 },
      { product: id, delta: 1, reason: 'received', expected_on_hand: 14 },
    ]);
    const problem = await expectProblem(stale, 409, 'quantity_changed');
    expect(problem.errors.map((e: any) => e.path)).toEqual(['adjustments[1]']);
    expect(problem.errors[0].message).toStartWith('quantity_changed: ');
    expect(await movementCount([id])).toBe(before);
    expect(await quantityOf(id)).toBe(14);
  });

  test('an Idempotency-Key replays the answer and applies the batch once', async () => {
    const id = await createProduct(10);
    const items = [{ product: id, delta: -1, reason: 'sold' }];
    const key = { 'idempotency-key': unique('batch-key') };
    const first = await batch(items, key);
    expect(first.status).toBe(201);
    const again = await batch(items, key);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await json(again)).toEqual(await json(first));
    expect(await quantityOf(id)).toBe(9);
  });

  test('a refused batch under an Idempotency-Key writes nothing and replays its refusal', async () => {
    const id = await createProduct(1);
    const key = { 'idempotency-key': unique('batch-key') };
    const items = [
      { product: id, delta: 1, reason: 'received' },
      { product: id, delta: -5, reason: 'sold' },
    ];
    await expectProblem(await batch(items, key), 409, 'insufficient_stock');
    const again = await batch(items, key);
    await expectProblem(again, 409, 'insufficient_stock');
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await quantityOf(id)).toBe(1);
    expect(await movementCount([id])).toBe(1);
  });
});

describe('POST /stock-adjustments: all or nothing', () => {
  test('one refused item among many writes nothing and is named by its index', async () => {
    const ids = await Promise.all(Array.from({ length: 5 }, () => createProduct(3)));
    const before = await movementCount(ids);
    const items: Item[] = ids.flatMap((id) => [
      { product: id, delta: 2, reason: 'received' },
      { product: id, delta: -1, reason: 'sold' },
    ]);
    items[7] = { product: ids[3]!, delta: -100, reason: 'sold' };
    const problem = await expectProblem(await batch(items), 409, 'insufficient_stock');
    expect(problem.errors).toEqual([{ path: 'adjustments[7]', message: expect.stringMatching(/^insufficient_stock: /) }]);
    expect(problem.detail).toBe('1 of 10 adjustments were refused; nothing was changed');
    expect(await movementCount(ids)).toBe(before);
    for (const id of ids) expect(await quantityOf(id)).toBe(3);
    await expectLedgerConsistent(ids);
  });

  test('several refused items are each named by their original index; the gravest decides the status', async () => {
    const [a, b] = [await createProduct(1), await createProduct(1)];
    const res = await batch([
      { product: b, delta: 1, reason: 'received' },
      { product: b, delta: -9, reason: 'sold' },
      { product: 999_999_999, delta: 1, reason: 'received' },
      { product: a, delta: 1, reason: 'received', expected_on_hand: 7 },
      { product: a, delta: 1, reason: 'received', location: 999_999_999 },
      { product: a, delta: 1, reason: 'received' },
    ]);
    const problem = await expectProblem(res, 404, 'not_found');
    expect(problem.errors.map((e: any) => [e.path, e.message.split(':')[0]])).toEqual([
      ['adjustments[1]', 'insufficient_stock'],
      ['adjustments[2]', 'not_found'],
      ['adjustments[3]', 'quantity_changed'],
      ['adjustments[4]', 'not_found'],
    ]);
    expect(await quantityOf(a)).toBe(1);
    expect(await quantityOf(b)).toBe(1);
  });

  test('accepts 1,000 items and refuses 1,001 with 422', async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, () => createProduct(0)));
    const items = (n: number): Item[] =>
      Array.from({ length: n }, (_, i) => ({ product: ids[i % ids.length]!, delta: 1, reason: 'received' }));
    const before = await movementCount(ids);
    const tooMany = await expectProblem(await batch(items(1001)), 422, 'validation_failed');
    expect(tooMany.errors.map((e: any) => e.path)).toEqual(['adjustments']);
    expect(await movementCount(ids)).toBe(before);
    const res = await batch(items(1000));
    expect(res.status).toBe(201);
    expect((await json(res)).movements).toHaveLength(1000);
    for (const id of ids) expect(await quantityOf(id)).toBe(100);
    await expectLedgerConsistent(ids);
  }, 30_000);

  test('refuses an empty batch and names an invalid item by its index', async () => {
    await expectProblem(await batch([]), 422, 'validation_failed');
    const id = await createProduct(1);
    const problem = await expectProblem(
      await batch([
        { product: id, delta: 1, reason: 'received' },
        { product: id, delta: 0, reason: 'received' },
      ]),
      422,
      'validation_failed',
    );
    expect(problem.errors.map((e: any) => e.path)).toEqual(['adjustments.1.delta']);
  });
});

describe('POST /stock-adjustments: concurrency', () => {
  test('two batches over the same products in opposite orders always both complete', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => createProduct(1000)));
    const store = await createLocation();
    const forward: Item[] = ids.flatMap((id) => [
      { product: id, delta: -1, reason: 'sold' },
      { product: id, location: store, delta: 1, reason: 'received' },
    ]);
    const backward = [...forward].reverse();
    const server = listen(t.app);
    try {
      for (let round = 0; round < 25; round++) {
        const statuses = await Promise.all(
          [forward, backward, forward, backward].map((adjustments) =>
            server
              .fetch('/stock-adjustments', {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ adjustments }),
              })
              .then(async (res) => [res.status, res.status === 201 ? '' : await res.text()]),
          ),
        );
        expect(statuses).toEqual(Array.from({ length: 4 }, () => [201, '']));
      }
    } finally {
      server.stop();
    }
    for (const id of ids) expect(await quantityOf(id)).toBe(1000);
    await expectLedgerConsistent(ids);
  }, 60_000);

  test('batches racing single adjustments keep every level and quantity in the ledger', async () => {
    const ids = await Promise.all(Array.from({ length: 4 }, () => createProduct(20)));
    const store = await createLocation();
    const server = listen(t.app);
    const post = (path: string, body: unknown) =>
      server.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const random = (n: number) => Math.floor(Math.random() * n);
    const statuses: number[] = [];
    try {
      await Promise.all(
        Array.from({ length: 60 }, async (_, i) => {
          const res =
            i % 3 === 0
              ? await post(`/products/${ids[random(ids.length)]}/stock-adjustments`, {
                  delta: random(2) ? 1 : -1,
                  reason: 'count_correction',
                  ...(random(2) ? { location: store } : {}),
                })
              : await post('/stock-adjustments', {
                  adjustments: Array.from({ length: 8 }, () => ({
                    product: ids[random(ids.length)]!,
                    delta: random(3) ? -1 : 2,
                    reason: 'count_correction',
                    ...(random(2) ? { location: store } : {}),
                  })),
                });
          statuses.push(res.status);
          await res.body?.cancel();
        }),
      );
    } finally {
      server.stop();
    }
    // Refusals (not enough at the store) are fine; a deadlock or a server error is not.
    for (const status of statuses) expect([201, 409]).toContain(status);
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThan(0);
    await expectLedgerConsistent(ids);
  }, 60_000);
});
