import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { importFile } from '../../src/import/import-file.ts';
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

async function createProduct(body: Record<string, unknown>): Promise<{ id: number; created_at: string }> {
  const res = await t.post('/products', { name: unique('Ledger'), price: 3, ...body });
  expect(res.status).toBe(201);
  return json(res);
}

/** Products whose quantity is not the sum of their movements' deltas. */
async function quantityMismatches() {
  return [
    ...(await t.db.sql`
    SELECT p.id, p.quantity, coalesce(sum(m.delta), 0)::int AS ledger
    FROM products p LEFT JOIN stock_movements m ON m.product_id = p.id
    GROUP BY p.id
    HAVING p.quantity <> coalesce(sum(m.delta), 0)`),
  ];
}

/** Movements whose quantity_after differs from the running sum of deltas, replayed in id order per product. */
async function replayMismatches() {
  return [
    ...(await t.db.sql`
    SELECT id, product_id, quantity_after, running::int
    FROM (SELECT id, product_id, quantity_after,
                 sum(delta) OVER (PARTITION BY product_id ORDER BY id) AS running
          FROM stock_movements) replay
    WHERE running <> quantity_after`),
  ];
}

/** A small deterministic generator, so a failing storm can be rerun as it was. */
function random(seed: number) {
  let state = seed >>> 0;
  return (n: number) => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), state | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n) | 0;
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

  test.each([
    ['quantity 0', { quantity: 0 }],
    ['no quantity', {}],
  ])('a product created with %s gets no movement', async (_, body) => {
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
        method,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(status);
    }
    expect(
      (
        await t.request(`/products/${id}`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ price: 9 }),
        })
      ).status,
    ).toBe(200);
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
      outcomes = await Promise.all(
        Array.from({ length: 300 }, (_, i) => {
          if (i % 15 === 0) {
            return send('create', '/products', {
              name: `Storm product ${i}`,
              price: 1,
              quantity: next(4) * 3,
              category: 'Storm',
            });
          }
          const target = targets[next(targets.length)]!;
          const delta = next(2) === 0 ? 1 + next(4) : -(1 + next(5));
          const reason = delta > 0 ? 'received' : 'sold';
          // Every third adjustment carries a key, as a client that retries would send.
          const headers: Record<string, string> = i % 3 === 0 ? { 'idempotency-key': `storm-${i}` } : {};
          return send('adjust', `/products/${target.id}/stock-adjustments`, { delta, reason, note: `storm ${i}` }, headers);
        }),
      );
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

describe('PostgreSQL keeps the ledger for every client, not only the API', () => {
  /** A plain connection as the API role (inventory_api), as any other program using its credentials would open. */
  let api: postgres.Sql;
  beforeAll(() => {
    api = postgres(t.db.url, { max: 3, onnotice: () => {} });
  });
  afterAll(async () => {
    await api?.end({ timeout: 1 });
  });

  /** The error a statement (or transaction) fails with; fails the test when it succeeds. */
  async function refusal(run: () => Promise<unknown>): Promise<postgres.PostgresError> {
    try {
      await run();
    } catch (error) {
      return error as postgres.PostgresError;
    }
    throw new Error('PostgreSQL accepted it');
  }

  /** The product's quantity and its movements, to show a refusal changed nothing. */
  async function state(id: number) {
    const [p] = await api<{ quantity: number }[]>`SELECT quantity FROM products WHERE id = ${id}`;
    const movements =
      await api`SELECT id, delta, reason, note, quantity_after FROM stock_movements WHERE product_id = ${id} ORDER BY id`;
    return { quantity: p!.quantity, movements: [...movements] };
  }

  const LEDGER = '23L02';

  test("the connection is the API role's", async () => {
    const [me] = await api<{ current_user: string }[]>`SELECT current_user`;
    expect(me!.current_user).toBe('inventory_api');
  });

  test.each([
    ['UPDATE', (id: number) => api`UPDATE stock_movements SET delta = 100, quantity_after = 105 WHERE product_id = ${id}`],
    ['DELETE', (id: number) => api`DELETE FROM stock_movements WHERE product_id = ${id}`],
    ['TRUNCATE', () => api`TRUNCATE stock_movements`],
  ])('%s of movements is refused to the API role (no privilege)', async (_, run) => {
    const { id } = await createProduct({ quantity: 5 });
    const before = await state(id);
    const error = await refusal(() => run(id));
    expect(error.code).toBe('42501');
    expect(await state(id)).toEqual(before);
  });

  test.each([
    [
      'UPDATE',
      (sql: postgres.Sql<any>, id: number) => sql`UPDATE stock_movements SET note = 'rewritten' WHERE product_id = ${id}`,
    ],
    ['DELETE', (sql: postgres.Sql<any>, id: number) => sql`DELETE FROM stock_movements WHERE product_id = ${id}`],
    ['TRUNCATE', (sql: postgres.Sql<any>) => sql`TRUNCATE stock_movements`],
    ['TRUNCATE CASCADE of products', (sql: postgres.Sql<any>) => sql`TRUNCATE products CASCADE`],
  ])('%s of movements is refused to the owner too, with SQLSTATE 23L01', async (op, run) => {
    const { id } = await createProduct({ quantity: 5 });
    const before = await state(id);
    const error = await refusal(() => run(t.db.admin, id));
    expect(error.code).toBe('23L01');
    expect(error.message).toBe(
      `stock movements are append-only: ${op.startsWith('TRUNCATE') ? 'TRUNCATE' : op} on stock_movements is refused`,
    );
    expect(await state(id)).toEqual(before);
  });

  test('UPDATE of a quantity without its movement is refused at commit, with SQLSTATE 23L02', async () => {
    const { id } = await createProduct({ quantity: 5 });
    const before = await state(id);
    const error = await refusal(() => api`UPDATE products SET quantity = quantity + 1000 WHERE id = ${id}`);
    expect(error.code).toBe(LEDGER);
    expect(error.message).toBe(`product ${id}: quantity 1005 is not explained by the stock ledger, whose levels hold 5 in all`);
    expect(await state(id)).toEqual(before);
    // The owner is held to it as well.
    expect((await refusal(() => t.db.admin`UPDATE products SET quantity = 0 WHERE id = ${id}`)).code).toBe(LEDGER);
  });

  test("a level's on hand changed without a movement is refused at commit, with SQLSTATE 23L02", async () => {
    const { id } = await createProduct({ quantity: 5 });
    const before = await state(id);
    const error = await refusal(() => api`UPDATE stock_levels SET on_hand = on_hand + 1 WHERE product_id = ${id}`);
    expect(error.code).toBe(LEDGER);
    expect(error.message).toMatch(
      new RegExp(
        `^product ${id} at location \\d+: on hand 6 is not explained by the stock ledger, whose latest movement leaves 5$`,
      ),
    );
    expect(await state(id)).toEqual(before);
  });

  test('a movement has its level checked once, by its own check, not again by the check of levels written outside it', async () => {
    const { id } = await createProduct({ quantity: 5 });
    // Counted by this session only (track_functions is off for the others); the checks run at its commit.
    const session = await t.db.admin.reserve();
    try {
      await session`SET track_functions = 'pl'`;
      const counts = async () => {
        await session`SELECT pg_stat_force_next_flush()`;
        await session`SELECT pg_stat_clear_snapshot()`;
        const rows = await session<{ funcname: string; calls: number }[]>`
          SELECT funcname::text, calls::int FROM pg_stat_user_functions
          WHERE funcname IN ('stock_levels_in_ledger', 'stock_movements_follow_ledger')`;
        return Object.fromEntries(rows.map((r) => [r.funcname, r.calls]));
      };
      const before = await counts();
      await session`SELECT stock_adjust(${id}, default_location(), 2, 'received')`;
      const after = await counts();
      const called = (name: string) => (after[name] ?? 0) - (before[name] ?? 0);
      expect({ follow: called('stock_movements_follow_ledger'), levels: called('stock_levels_in_ledger') }).toEqual({
        follow: 1,
        levels: 0,
      });
    } finally {
      session.release();
    }
    expect((await state(id)).quantity).toBe(7);
  });

  test('INSERT of a product with a quantity and no movement is refused', async () => {
    const sku = `LEDGER-NO-MOVEMENT-${Date.now()}`;
    const error = await refusal(
      () => api`
      INSERT INTO products (sku, name, price, quantity, category_id)
      VALUES (${sku}, ${unique('Ledger unexplained')}, 1, 7, (SELECT min(id) FROM categories))`,
    );
    expect(error.code).toBe(LEDGER);
    expect(error.message).toMatch(/^product \d+: quantity 7 is not explained by the stock ledger, whose levels hold 0 in all$/);
    expect(await api`SELECT 1 FROM products WHERE sku = ${sku}`).toHaveLength(0);
    // Without stock it needs no movement.
    await api`INSERT INTO products (sku, name, price, category_id) VALUES (${sku}, ${unique('Ledger empty')}, 1, (SELECT min(id) FROM categories))`;
  });

  test('a movement without the quantity change it records is refused', async () => {
    const { id } = await createProduct({ quantity: 5 });
    const before = await state(id);
    const error = await refusal(
      () => api`
      INSERT INTO stock_movements (product_id, delta, reason, quantity_after) VALUES (${id}, 3, 'received', 8)`,
    );
    expect(error.code).toBe(LEDGER);
    expect(error.message).toBe(`product ${id}: quantity 5 is not explained by the stock ledger, whose levels hold 8 in all`);
    expect(await state(id)).toEqual(before);
  });

  test('a movement whose quantity_after does not follow from the previous one is refused', async () => {
    const { id } = await createProduct({ quantity: 5 });
    const before = await state(id);
    // Quantity and quantity_after agree, but 5 + 3 is not 9.
    const error = await refusal(() =>
      api.begin(async (tx) => {
        await tx`UPDATE products SET quantity = 9 WHERE id = ${id}`;
        await tx`INSERT INTO stock_movements (product_id, delta, reason, quantity_after) VALUES (${id}, 3, 'received', 9)`;
      }),
    );
    expect(error.code).toBe(LEDGER);
    expect(error.message).toMatch(
      new RegExp(`^stock movement \\d+ of product ${id} at location \\d+: quantity_after 9 is not the previous 5 plus delta 3$`),
    );
    expect(await state(id)).toEqual(before);
  });

  test('a quantity change with its movement is accepted in separate statements, in either order', async () => {
    const { id } = await createProduct({ quantity: 5 });
    await api.begin(async (tx) => {
      await tx`UPDATE products SET quantity = quantity + 2 WHERE id = ${id}`;
      await tx`INSERT INTO stock_movements (product_id, delta, reason, quantity_after) VALUES (${id}, 2, 'received', 7)`;
    });
    await api.begin(async (tx) => {
      await tx`INSERT INTO stock_movements (product_id, delta, reason, quantity_after) VALUES (${id}, -3, 'sold', 4)`;
      await tx`UPDATE products SET quantity = quantity - 3 WHERE id = ${id}`;
    });
    expect((await state(id)).quantity).toBe(4);
    expect(await quantityMismatches()).toEqual([]);
    expect(await replayMismatches()).toEqual([]);
  });

  test('a writer that records its movement before locking the product, racing an adjustment: one of them is rolled back, the chain holds', async () => {
    const { id } = await createProduct({ quantity: 5 });
    const late = await api.reserve();
    let lateCommitted = false;
    let answer: Response;
    try {
      await late`BEGIN`;
      // Computed from the stock it saw (5). Its movement takes the level's lock (the trigger that sets the level).
      await late`INSERT INTO stock_movements (product_id, delta, reason, quantity_after) VALUES (${id}, 1, 'returned', 6)`;
      // The adjustment locks the product, then waits for the level.
      const adjusting = t.post(`/products/${id}/stock-adjustments`, { delta: 2, reason: 'received' });
      await Bun.sleep(200);
      // The late writer now waits for the product: a deadlock, which PostgreSQL breaks by rolling one back.
      try {
        await late`UPDATE products SET quantity = quantity + 1 WHERE id = ${id}`;
        await late`COMMIT`;
        lateCommitted = true;
      } catch (error) {
        expect((error as postgres.PostgresError).code).toBe('40P01');
      }
      answer = await adjusting;
    } finally {
      await late`ROLLBACK`.catch(() => {});
      late.release();
    }
    const after = await state(id);
    if (lateCommitted) {
      // The adjustment was the one rolled back: answered 503 (retry), nothing of it written.
      expect(answer.status).toBe(503);
      expect(after.movements.map((m) => [m.delta, m.quantity_after])).toEqual([
        [5, 5],
        [1, 6],
      ]);
    } else {
      expect(answer.status).toBe(201);
      expect(after.movements.map((m) => [m.delta, m.quantity_after])).toEqual([
        [5, 5],
        [2, 7],
      ]);
    }
    expect(await quantityMismatches()).toEqual([]);
    expect(await replayMismatches()).toEqual([]);
  });

  test('the bulk import, as the API role, inserts stocked products and corrects counts within the ledger', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-import-'));
    const suffix = Date.now().toString(36).toUpperCase();
    const file = (name: string, rows: string[]) => {
      const path = join(dir, name);
      writeFileSync(path, ['sku,name,price,quantity,category', ...rows].join('\n') + '\n');
      return path;
    };
    const pool = postgres(t.db.url, { max: 1, onnotice: () => {} }) as unknown as typeof t.db.sql;
    try {
      const first = await importFile(
        pool,
        file('first.csv', [
          `LEDGER-IMP-A-${suffix},Ledger import A ${suffix},1.00,10,Ledger import`,
          `LEDGER-IMP-B-${suffix},Ledger import B ${suffix},1.00,0,Ledger import`,
        ]),
      );
      expect(first.inserted).toBe(2);
      const second = await importFile(
        pool,
        file('second.csv', [
          `LEDGER-IMP-A-${suffix},Ledger import A ${suffix},1.00,4,Ledger import`,
          `LEDGER-IMP-B-${suffix},Ledger import B ${suffix},1.00,3,Ledger import`,
        ]),
      );
      expect(second.updated).toBe(2);
    } finally {
      await pool.end({ timeout: 1 });
      rmSync(dir, { recursive: true, force: true });
    }
    const rows = await api`
      SELECT p.sku, m.delta, m.reason, m.quantity_after
      FROM stock_movements m JOIN products p ON p.id = m.product_id
      WHERE p.sku LIKE ${`LEDGER-IMP-%-${suffix}`} ORDER BY p.sku, m.id`;
    expect([...rows]).toEqual([
      { sku: `LEDGER-IMP-A-${suffix}`, delta: 10, reason: 'initial', quantity_after: 10 },
      { sku: `LEDGER-IMP-A-${suffix}`, delta: -6, reason: 'count_correction', quantity_after: 4 },
      { sku: `LEDGER-IMP-B-${suffix}`, delta: 3, reason: 'count_correction', quantity_after: 3 },
    ]);
    expect(await quantityMismatches()).toEqual([]);
    expect(await replayMismatches()).toEqual([]);
  });

  test("a ledger broken behind the triggers' back makes the API answer 500 without internals, and a correction repairs it", async () => {
    const { id } = await createProduct({ quantity: 5 });
    // Only the owner can do this, and only by turning the check off on purpose.
    await t.db.admin.begin(async (tx) => {
      await tx`ALTER TABLE products DISABLE TRIGGER products_quantity_in_ledger_update`;
      await tx`UPDATE products SET quantity = 9 WHERE id = ${id}`;
      await tx`ALTER TABLE products ENABLE TRIGGER products_quantity_in_ledger_update`;
    });
    const res = await t.post(`/products/${id}/stock-adjustments`, { delta: 1, reason: 'received' });
    const body = await expectProblem(res, 500, 'internal_error');
    expect(JSON.stringify(body)).not.toMatch(/ledger|quantity|stock_movements|23L02/);
    // The movement that explains the difference repairs the product.
    await api`INSERT INTO stock_movements (product_id, delta, reason, note, quantity_after) VALUES (${id}, 4, 'count_correction', 'repair', 9)`;
    expect(await quantityMismatches()).toEqual([]);
    expect((await t.post(`/products/${id}/stock-adjustments`, { delta: 1, reason: 'received' })).status).toBe(201);
  });
});
