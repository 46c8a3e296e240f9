import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, listen, type TestApp } from '../support/app.ts';
import { expectProblem } from '../support/problem.ts';
import { within } from '../support/time.ts';
import { json } from '../support/values.ts';
import { createLocation, createProduct, defaultLocation, expectLedgerWhole, stockOf } from './support.ts';

let t: TestApp;
let home: number;
beforeAll(async () => {
  t = await createTestApp({ poolMax: 20 });
  home = await defaultLocation(t);
});
afterAll(async () => {
  await t?.close();
}, 20_000);

const transfer = (body: unknown, headers: Record<string, string> = {}) => t.post('/transfers', body, headers);

describe('POST /transfers: happy path', () => {
  test('moves units: the transfer, two movements with its id, both levels and the product quantity change together', async () => {
    const product = await createProduct(t, 10);
    const shop = await createLocation(t);
    const res = await transfer({ product, from: home, to: shop, quantity: 4, note: 'restock' });
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body.transfer).toEqual({
      id: expect.any(Number),
      product_id: product,
      from_location_id: home,
      to_location_id: shop,
      quantity: 4,
      note: 'restock',
      created_at: expect.any(String),
    });
    expect(body.movements.map((m: any) => [m.location_id, m.delta, m.reason, m.quantity_after, m.transfer_id])).toEqual([
      [home, -4, 'transfer_out', 6, body.transfer.id],
      [shop, 4, 'transfer_in', 4, body.transfer.id],
    ]);
    const after = await stockOf(t, product);
    expect(after.quantity).toBe(10);
    expect(after.levels).toEqual([
      { location_id: home, on_hand: 6, reserved: 0 },
      { location_id: shop, on_hand: 4, reserved: 0 },
    ]);
    expect(after.movements.map((m) => m.reason)).toEqual(['initial', 'transfer_out', 'transfer_in']);
    await expectLedgerWhole(t, product);
  });

  test('an Idempotency-Key replay returns the same transfer and moves nothing more', async () => {
    const product = await createProduct(t, 5);
    const shop = await createLocation(t);
    const key = { 'idempotency-key': `transfer-${product}` };
    const first = await transfer({ product, from: home, to: shop, quantity: 2 }, key);
    const again = await transfer({ product, from: home, to: shop, quantity: 2 }, key);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await json(again)).transfer.id).toBe((await json(first)).transfer.id);
    expect((await stockOf(t, product)).transfers).toBe(1);
  });
});

describe('POST /transfers: refused transfers change nothing', () => {
  test('more than `from` has available: 409 insufficient_stock', async () => {
    const product = await createProduct(t, 3);
    const shop = await createLocation(t);
    const before = await stockOf(t, product);
    await expectProblem(await transfer({ product, from: home, to: shop, quantity: 4 }), 409, 'insufficient_stock');
    expect(await stockOf(t, product)).toEqual(before);
  });

  test('units held by an open reservation cannot leave', async () => {
    const product = await createProduct(t, 3);
    const shop = await createLocation(t);
    expect((await t.post('/reservations', { product, quantity: 2, expires_in_s: 600 })).status).toBe(201);
    const before = await stockOf(t, product);
    await expectProblem(await transfer({ product, from: home, to: shop, quantity: 2 }), 409, 'insufficient_stock');
    expect(await stockOf(t, product)).toEqual(before);
    expect((await transfer({ product, from: home, to: shop, quantity: 1 })).status).toBe(201);
  });

  test('from = to: 422 naming `to`', async () => {
    const product = await createProduct(t, 3);
    const before = await stockOf(t, product);
    const body = await expectProblem(await transfer({ product, from: home, to: home, quantity: 1 }), 422, 'validation_failed');
    expect(body.errors).toEqual([{ path: 'to', message: 'must not be the same location as from' }]);
    expect(await stockOf(t, product)).toEqual(before);
  });

  test('an unknown product or location: 404', async () => {
    const product = await createProduct(t, 3);
    const before = await stockOf(t, product);
    await expectProblem(await transfer({ product: 987654321, from: home, to: home + 1, quantity: 1 }), 404, 'not_found');
    await expectProblem(await transfer({ product, from: home, to: 987654321, quantity: 1 }), 404, 'not_found');
    expect(await stockOf(t, product)).toEqual(before);
  });

  test.each([
    ['quantity 0', { quantity: 0 }, ['quantity']],
    ['a fractional quantity', { quantity: 1.5 }, ['quantity']],
    ['a missing from', { from: undefined }, ['from']],
    ['an unknown field', { colour: 'red' }, ['colour']],
  ])('%s: 422', async (_, change, paths) => {
    const body = { product: 1, from: 1, to: 2, quantity: 1, ...change };
    const problem = await expectProblem(await transfer(body), 422, 'validation_failed');
    expect(problem.errors.map((e: { path: string }) => e.path)).toEqual(paths);
  });

  test('a transfer whose connection is killed while it waits for the product lock leaves levels and ledger as they were', async () => {
    const product = await createProduct(t, 8);
    const shop = await createLocation(t);
    expect((await transfer({ product, from: home, to: shop, quantity: 3 })).status).toBe(201);
    const before = await stockOf(t, product);
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    // Another connection holds the product row, as a stock change would.
    const holder = t.db.admin.begin(async (tx) => {
      await tx`SELECT id FROM products WHERE id = ${product} FOR UPDATE`;
      locked();
      await released;
    });
    await isLocked;
    const pending = transfer({ product, from: home, to: shop, quantity: 2 });
    try {
      // The API's backend that waits on a lock (the transfer is the only request in flight).
      const waiting = async () => {
        for (;;) {
          const rows = await t.db.admin<{ pid: number }[]>`
            SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'inventory-test' AND wait_event_type = 'Lock'`;
          if (rows.length) return rows[0]!.pid;
          await Bun.sleep(20);
        }
      };
      const pid = await within(10_000, waiting());
      await t.db.admin`SELECT pg_terminate_backend(${pid})`;
      const res = await within(10_000, pending);
      await expectProblem(res, 503, 'database_unavailable');
    } finally {
      release();
      await holder;
    }
    // Nothing of the transfer survived, and nothing is left waiting to write it.
    const idle = async () => {
      for (;;) {
        const [row] = await t.db.admin<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'inventory-test' AND state <> 'idle'`;
        if (row!.n === 0) return;
        await Bun.sleep(20);
      }
    };
    await within(10_000, idle());
    expect(await stockOf(t, product)).toEqual(before);
    await expectLedgerWhole(t, product);
  });
});

describe('POST /transfers: concurrency', () => {
  test('50 concurrent transfers back and forth and 30 sales keep every level equal to its movements and the product to its levels', async () => {
    const product = await createProduct(t, 40);
    const shop = await createLocation(t);
    expect((await transfer({ product, from: home, to: shop, quantity: 20 })).status).toBe(201);
    const server = listen(t.app);
    try {
      const post = (path: string, body: unknown) =>
        server.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const requests = [
        ...Array.from({ length: 50 }, (_, i) =>
          post('/transfers', { product, from: i % 2 ? home : shop, to: i % 2 ? shop : home, quantity: 1 + (i % 3) }),
        ),
        ...Array.from({ length: 30 }, (_, i) =>
          post(`/products/${product}/stock-adjustments`, { delta: -1, reason: 'sold', location: i % 2 ? home : shop }),
        ),
      ];
      const statuses = (await Promise.all(requests)).map((r) => r.status);
      expect(statuses.filter((s) => s !== 201 && s !== 409)).toEqual([]);
    } finally {
      server.stop();
    }
    await expectLedgerWhole(t, product);
    const after = await stockOf(t, product);
    const sold = after.movements.filter((m) => m.reason === 'sold').length;
    expect(after.quantity).toBe(40 - sold);
    expect(after.movements.filter((m) => m.reason === 'transfer_out').length).toBe(after.transfers);
    expect(after.movements.filter((m) => m.reason === 'transfer_in').length).toBe(after.transfers);
  });
});

describe('GET /transfers', () => {
  test('pages newest first through Link rel="next", filtered by product and by either location', async () => {
    const product = await createProduct(t, 10);
    const other = await createProduct(t, 10);
    const shop = await createLocation(t);
    const back = await createLocation(t);
    const ids: number[] = [];
    for (const [from, to] of [
      [home, shop],
      [shop, back],
      [home, back],
    ] as const) {
      const res = await transfer({ product, from, to, quantity: 1 });
      ids.push((await json(res)).transfer.id);
    }
    expect((await transfer({ product: other, from: home, to: shop, quantity: 1 })).status).toBe(201);

    const seen: number[] = [];
    let next: string | undefined = `/transfers?product=${product}&limit=2`;
    while (next) {
      const res = await t.request(next);
      expect(res.status).toBe(200);
      seen.push(...(await json(res)).map((r: { id: number }) => r.id));
      next = /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
    }
    expect(seen).toEqual([...ids].reverse());

    const atShop = await json(await t.request(`/transfers?product=${product}&location=${shop}`));
    expect(atShop.map((r: { id: number }) => r.id)).toEqual([ids[1], ids[0]]);
    const atBack = await json(await t.request(`/transfers?location=${back}`));
    expect(atBack.map((r: { id: number }) => r.id)).toEqual([ids[2], ids[1]]);
  });

  test('refuses a filter that is not an id, and a cursor it did not write', async () => {
    await expectProblem(await t.request('/transfers?product=042'), 422, 'validation_failed');
    await expectProblem(await t.request('/transfers?cursor=abc'), 422, 'validation_failed');
  });
});
