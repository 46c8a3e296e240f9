import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, listen, type TestApp } from '../support/app.ts';
import { json, unique } from '../support/values.ts';
import { documentedFetch } from '../support/contract.ts';

let t: TestApp;
beforeAll(async () => { t = await createTestApp({ poolMax: 20 }); });
afterAll(async () => { await t?.close(); });

async function createProduct(body: Record<string, unknown>): Promise<{ id: number; created_at: string }> {
  const res = await t.post('/products', { name: unique('Ledger'), price: 3, ...body });
  expect(res.status).toBe(201);
  return json(res);
}

/** Products whose quantity is not the sum of their movements' deltas. */
async function quantityMismatches() {
  return [...await t.db.sql`
    SELECT p.id, p.quantity, coalesce(sum(m.delta), 0)::int AS ledger
    FROM products p LEFT JOIN stock_movements m ON m.product_id = p.id
    GROUP BY p.id
    HAVING p.quantity <> coalesce(sum(m.delta), 0)`];
}

/** Movements whose quantity_after differs from the running sum of deltas, replayed in id order per product. */
async function replayMismatches() {
  return [...await t.db.sql`
    SELECT id, product_id, quantity_after, running::int
    FROM (SELECT id, product_id, quantity_after,
                 sum(delta) OVER (PARTITION BY product_id ORDER BY id) AS running
          FROM stock_movements) replay
    WHERE running <> quantity_after`];
}

/** A small deterministic generator, so a failing storm can be rerun as it was. */
function random(seed: number) {
  let state = seed >>> 0;
  return (n: number) => { // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), state | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return (((x ^ (x >>> 14)) >>> 0) / 4294967296 * n) | 0;
  };
}

describe('the initial movement', () => {
  test('a product created with quantity q gets one initial movement of q, written with it', async () => {
    const product = await createProduct({ quantity: 12, category: 'Ledger existing' });
    const rows = await t.db.sql`
      SELECT delta, reason, note, quantity_after, created_at FROM stock_movements WHERE product_id = ${product.id}`;
    // Same statement, same transaction: the movement has the product's transaction timestamp.
    expect([...rows]).toEqual([{ delta: 12, reason: 'initial', note: null, quantity_after: 12, created_at: product.created_at }]);
  });

  test('the initial movement is written also when the product creates its category', async () => {
    const product = await createProduct({ quantity: 4, category: unique('Ledger new category') });
    const rows = await t.db.sql`
      SELECT delta, reason, quantity_after, created_at FROM stock_movements WHERE product_id = ${product.id}`;
    expect([...rows]).toEqual([{ delta: 4, reason: 'initial', quantity_after: 4, created_at: product.created_at }]);
  });

  test.each([['quantity 0', { quantity: 0 }], ['no quantity', {}]])('a product created with %s gets no movement', async (_, body) => {
    const product = await createProduct(body);
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM stock_movements WHERE product_id = ${product.id}`;
    expect(row!.n).toBe(0);
  });

  test('a refused product leaves no movement behind', async () => {
    const name = unique('Ledger duplicate');
    await createProduct({ name, quantity: 1 });
    const [before] = await t.db.sql`SELECT count(*)::int AS n FROM stock_movements`;
    const res = await t.post('/products', { name, price: 1, quantity: 50 });
    expect(res.status).toBe(409);
    const [after] = await t.db.sql`SELECT count(*)::int AS n FROM stock_movements`;
    expect(after!.n).toBe(before!.n);
  });
});

describe('quantity equals the sum of the ledger', () => {
  test('holds after a sequence of adjustments, edits, refusals, archive and restore', async () => {
    const { id } = await createProduct({ quantity: 7 });
    const steps: [string, string, unknown, number][] = [
      ['POST', 'stock-adjustments', { delta: 5, reason: 'received' }, 201],
      ['POST', 'stock-adjustments', { delta: -20, reason: 'sold' }, 409],
      ['POST', 'stock-adjustments', { delta: -12, reason: 'sold' }, 201],
      ['POST', 'stock-adjustments', { delta: 3, reason: 'returned' }, 201],
      ['POST', 'stock-adjustments', { delta: -1, reason: 'damaged' }, 201],
    ];
    for (const [method, path, body, status] of steps) {
      const res = await t.request(`/products/${id}/${path}`, {
        method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      expect(res.status).toBe(status);
    }
    expect((await t.request(`/products/${id}`, {
      method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ price: 9 }),
    })).status).toBe(200);
    expect((await t.request(`/products/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await t.request(`/products/${id}/restore`, { method: 'POST' })).status).toBe(200);
    expect((await t.post(`/products/${id}/stock-adjustments`, { delta: -2, reason: 'count_correction' })).status).toBe(201);

    const [row] = await t.db.sql`SELECT quantity FROM products WHERE id = ${id}`;
    expect(row!.quantity).toBe(7 + 5 - 12 + 3 - 1 - 2);
    expect(await quantityMismatches()).toEqual([]);
    expect(await replayMismatches()).toEqual([]);
  });

  test('holds for every product after a storm of 300 concurrent mixed requests', async () => {
    const next = random(20261122);
    const targets = await Promise.all([5, 0, 20, 1].map((quantity) => createProduct({ quantity, category: 'Storm' })));
    const server = listen(t.app);
    type Outcome = { kind: 'create' | 'adjust'; status: number; body: any };
    const send = async (kind: Outcome['kind'], path: string, body: unknown, headers: Record<string, string> = {}) => {
      const res = await documentedFetch(`${server.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      return { kind, status: res.status, body: await json(res) } as Outcome;
    };
    let outcomes: Outcome[];
    try {
      outcomes = await Promise.all(Array.from({ length: 300 }, (_, i) => {
        if (i % 15 === 0) {
          return send('create', '/products', { name: `Storm product ${i}`, price: 1, quantity: next(4) * 3, category: 'Storm' });
        }
        const target = targets[next(targets.length)]!;
        const delta = next(2) === 0 ? 1 + next(4) : -(1 + next(5));
        const reason = delta > 0 ? 'received' : 'sold';
        // Every third adjustment carries a key, as a client that retries would send.
        const headers: Record<string, string> = i % 3 === 0 ? { 'idempotency-key': `storm-${i}` } : {};
        return send('adjust', `/products/${target.id}/stock-adjustments`, { delta, reason, note: `storm ${i}` }, headers);
      }));
    } finally {
      server.stop();
    }

    const adjusted = outcomes.filter((o) => o.kind === 'adjust' && o.status === 201);
    const refused = outcomes.filter((o) => o.kind === 'adjust' && o.status !== 201);
    for (const o of outcomes.filter((o) => o.kind === 'create')) expect(o.status).toBe(201);
    for (const o of refused) {
      expect(o.status).toBe(409);
      expect(o.body.code).toBe('insufficient_stock');
    }
    expect(adjusted.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0); // the storm did push against zero

    expect(await quantityMismatches()).toEqual([]);
    expect(await replayMismatches()).toEqual([]);
    const [floor] = await t.db.sql`
      SELECT (SELECT min(quantity) FROM products) AS min_quantity,
             (SELECT min(quantity_after) FROM stock_movements) AS min_after`;
    expect(floor!.min_quantity).toBeGreaterThanOrEqual(0);
    expect(floor!.min_after).toBeGreaterThanOrEqual(0);

    // Every accepted adjustment is in the ledger as answered, and nothing else was written for the storm.
    const stormMovements = await t.db.sql<{ id: number; quantity_after: number }[]>`
      SELECT id, quantity_after FROM stock_movements WHERE note LIKE 'storm %'`;
    expect(stormMovements.length).toBe(adjusted.length);
    const byId = new Map(stormMovements.map((m) => [m.id, m.quantity_after]));
    for (const o of adjusted) expect(byId.get(o.body.movement.id)).toBe(o.body.movement.quantity_after);

    // Each created product's quantity is explained by its initial movement alone.
    for (const o of outcomes.filter((o) => o.kind === 'create')) {
      const rows = await t.db.sql`SELECT delta, reason FROM stock_movements WHERE product_id = ${o.body.id}`;
      expect([...rows]).toEqual(o.body.quantity > 0 ? [{ delta: o.body.quantity, reason: 'initial' }] : []);
    }
  });
});
