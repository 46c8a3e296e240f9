/**
 * Every change writes its events in its own transaction (triggers): what a
 * request that commits publishes, what one that fails does not, and the
 * figures a consumer reads without calling back.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importFile } from '../../src/import/import-file.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { json, unique } from '../support/values.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

type EventRow = { id: number; type: string; product_id: number | null; data: Record<string, unknown> };

/** The events written after event `after`, in id order. */
async function eventsAfter(after: number): Promise<EventRow[]> {
  return t.db.sql<EventRow[]>`SELECT id::int, type, product_id::int, data FROM events WHERE id > ${after} ORDER BY id`;
}

async function lastEventId(): Promise<number> {
  const [row] = await t.db.sql<{ id: number }[]>`SELECT coalesce(max(id), 0)::int AS id FROM events`;
  return row!.id;
}

async function createProduct(quantity: number, category = 'Events'): Promise<{ id: number; sku: string }> {
  const res = await t.post('/products', { name: unique('Event item'), price: 4.5, quantity, category });
  expect(res.status).toBe(201);
  return json(res);
}

async function createLocation(): Promise<number> {
  const code = unique('EVL').replace(' ', '-');
  const res = await t.post('/locations', { code, name: code });
  expect(res.status).toBe(201);
  return (await json(res)).id;
}

describe('products and categories', () => {
  test('a created product publishes product.created, then its initial stock', async () => {
    const before = await lastEventId();
    const p = await createProduct(7, unique('Events category'));
    const events = await eventsAfter(before);
    expect(events.map((e) => e.type)).toEqual(['category.created', 'product.created', 'stock.adjusted']);
    const created = events[1]!;
    expect(created.product_id).toBe(p.id);
    expect(created.data).toMatchObject({ id: p.id, sku: p.sku, quantity: 7, price: 4.5, archived: false });
    // A first stock is not "back in stock".
    expect(events[2]!.data).toMatchObject({ delta: 7, reason: 'initial', on_hand: 7, available: 7, available_before: null });
  });

  test('an edit names the fields it changed; archive and restore have their own events', async () => {
    const p = await createProduct(0);
    const before = await lastEventId();
    expect(
      (
        await t.request(`/products/${p.id}`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ price: 9.25 }),
        })
      ).status,
    ).toBe(200);
    expect((await t.request(`/products/${p.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await t.post(`/products/${p.id}/restore`, {})).status).toBe(200);
    const events = await eventsAfter(before);
    expect(events.map((e) => e.type)).toEqual(['product.updated', 'product.archived', 'product.restored']);
    expect(events[0]!.data).toMatchObject({ price: 9.25, changed: ['price'] });
    expect(events[1]!.data).toMatchObject({ archived: true });
  });

  test('a stock change alone is not a product change', async () => {
    const p = await createProduct(3);
    const before = await lastEventId();
    const res = await t.post(`/products/${p.id}/stock-adjustments`, { delta: 2, reason: 'received' });
    expect(res.status).toBe(201);
    expect((await eventsAfter(before)).map((e) => e.type)).toEqual(['stock.adjusted']);
  });

  test('a deleted category publishes category.deleted', async () => {
    const res = await t.post('/categories', { name: unique('Doomed') });
    expect(res.status).toBe(201);
    const { id } = await json(res);
    const before = await lastEventId();
    expect((await t.request(`/categories/${id}`, { method: 'DELETE' })).status).toBe(204);
    const events = await eventsAfter(before);
    expect(events.map((e) => e.type)).toEqual(['category.deleted']);
    expect(events[0]!.data).toMatchObject({ id });
  });
});

describe('stock', () => {
  test('a refused request writes no event', async () => {
    const p = await createProduct(1);
    const before = await lastEventId();
    const res = await t.post(`/products/${p.id}/stock-adjustments`, { delta: -5, reason: 'sold' });
    expect(res.status).toBe(409);
    const batch = await t.post('/stock-adjustments', {
      adjustments: [
        { product: p.id, delta: 1, reason: 'received' },
        { product: p.id, delta: -50, reason: 'sold' },
      ],
    });
    expect(batch.status).toBe(409);
    expect(await eventsAfter(before)).toEqual([]);
  });

  test('a sale to zero publishes out_of_stock; a receipt brings back_in_stock', async () => {
    const p = await createProduct(2);
    const before = await lastEventId();
    expect((await t.post(`/products/${p.id}/stock-adjustments`, { delta: -2, reason: 'sold', reference: 'ORD-1' })).status).toBe(
      201,
    );
    expect((await t.post(`/products/${p.id}/stock-adjustments`, { delta: 5, reason: 'received' })).status).toBe(201);
    const events = await eventsAfter(before);
    expect(events.map((e) => e.type)).toEqual(['stock.adjusted', 'stock.out_of_stock', 'stock.adjusted', 'stock.back_in_stock']);
    expect(events[0]!.data).toMatchObject({ delta: -2, reason: 'sold', reference: 'ORD-1', on_hand: 0, available: 0 });
    expect(events[1]!.data).toMatchObject({ cause: 'stock.adjusted', on_hand: 0, available: 0, available_before: 2 });
    expect(events[3]!.data).toMatchObject({ on_hand: 5, available: 5, available_before: 0 });
  });

  test('falling to the reorder point publishes low_stock once', async () => {
    const p = await createProduct(10);
    const [level] = await t.db.sql<{ location_id: number }[]>`
      SELECT location_id::int FROM stock_levels WHERE product_id = ${p.id}`;
    const put = await t.request(`/products/${p.id}/levels/${level!.location_id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reorder_point: 4 }),
    });
    expect(put.status).toBe(200);
    const before = await lastEventId();
    for (const delta of [-5, -1, -1]) {
      expect((await t.post(`/products/${p.id}/stock-adjustments`, { delta, reason: 'sold' })).status).toBe(201);
    }
    const types = (await eventsAfter(before)).map((e) => e.type);
    expect(types).toEqual(['stock.adjusted', 'stock.adjusted', 'stock.low_stock', 'stock.adjusted']);
  });

  test('a transfer publishes both sides with their levels', async () => {
    const p = await createProduct(6);
    const to = await createLocation();
    const before = await lastEventId();
    const res = await t.post('/transfers', { product: p.id, from: 1, to, quantity: 6 });
    expect(res.status).toBe(201);
    const events = await eventsAfter(before);
    expect(events.map((e) => e.type)).toEqual([
      'stock.transferred',
      'stock.out_of_stock',
      'stock.transferred',
      'stock.back_in_stock',
    ]);
    expect(events[0]!.data).toMatchObject({ location_id: 1, delta: -6, on_hand: 0 });
    expect(events[2]!.data).toMatchObject({ location_id: to, delta: 6, on_hand: 6, available: 6 });
  });

  test('reserve, release, fulfil and expiry each publish, with what is available', async () => {
    const p = await createProduct(3);
    const before = await lastEventId();
    const reserve = async (quantity: number, expires_in_s = 600) => {
      const res = await t.post('/reservations', { product: p.id, quantity, expires_in_s, reference: 'CART-9' });
      expect(res.status).toBe(201);
      return (await json(res)).id as number;
    };
    const held = await reserve(3);
    expect((await t.request(`/reservations/${held}`, { method: 'DELETE' })).status).toBe(200);
    const sold = await reserve(1);
    expect((await t.post(`/reservations/${sold}/fulfil`, {})).status).toBe(201);
    const lapsing = await reserve(2);
    await t.db
      .admin`UPDATE reservations SET expires_at = now() - interval '1 second', created_at = now() - interval '1 minute' WHERE id = ${lapsing}`;
    const [expired] = await t.db.sql<{ closed: number }[]>`SELECT reservations_expire() AS closed`;
    expect(expired!.closed).toBe(1);
    const events = await eventsAfter(before);
    expect(events.map((e) => e.type)).toEqual([
      'stock.reserved',
      'stock.out_of_stock',
      'stock.released',
      'stock.back_in_stock',
      'stock.reserved',
      'stock.fulfilled',
      'stock.reserved',
      'stock.out_of_stock',
      'stock.expired',
      'stock.back_in_stock',
    ]);
    expect(events[0]!.data).toMatchObject({ reservation_id: held, quantity: 3, reference: 'CART-9', on_hand: 3, available: 0 });
    expect(events[5]!.data).toMatchObject({
      reservation_id: sold,
      delta: -1,
      reason: 'sold',
      on_hand: 2,
      available: 2,
      available_before: 2,
    });
    expect(events[8]!.data).toMatchObject({
      reservation_id: lapsing,
      state: 'expired',
      on_hand: 2,
      available: 2,
      available_before: 0,
    });
  });
});

describe('stock: what every stock event carries', () => {
  /** The fields a consumer of any stock.* event reads without calling back, and what available did. */
  const STOCK_FIELDS = [
    'location_id',
    'location_code',
    'on_hand',
    'available',
    'delta',
    'reason',
    'reference',
    'available_delta',
  ];
  const fieldsOf = (e: EventRow) =>
    Object.fromEntries(STOCK_FIELDS.map((field) => [field, e.data[field]])) as Record<string, unknown>;

  test('every stock type has location, on_hand, available, delta (of on hand), reason and reference; crossings those of their cause', async () => {
    const [main] = await t.db.sql<{ id: number; code: string }[]>`SELECT id::int, code FROM locations WHERE is_default`;
    const second = await createLocation();
    const [secondLocation] = await t.db.sql<{ code: string }[]>`SELECT code FROM locations WHERE id = ${second}`;
    const before = await lastEventId();
    const p = await createProduct(5);
    const patch = await t.request(`/products/${p.id}/levels/${main!.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reorder_point: 2 }),
    });
    expect(patch.status).toBe(200);
    const reserve = async (quantity: number, reference: string) => {
      const res = await t.post('/reservations', { product: p.id, quantity, expires_in_s: 600, reference });
      expect(res.status).toBe(201);
      return (await json(res)).id as number;
    };
    expect((await t.post(`/products/${p.id}/stock-adjustments`, { delta: -3, reason: 'sold', reference: 'ORD-7' })).status).toBe(
      201,
    );
    const released = await reserve(2, 'CART-1');
    expect((await t.request(`/reservations/${released}`, { method: 'DELETE' })).status).toBe(200);
    const sold = await reserve(1, 'CART-2');
    expect((await t.post(`/reservations/${sold}/fulfil`, {})).status).toBe(201);
    const lapsing = await reserve(1, 'CART-3');
    await t.db
      .admin`UPDATE reservations SET expires_at = now() - interval '1 second', created_at = now() - interval '1 minute' WHERE id = ${lapsing}`;
    expect((await t.db.sql<{ closed: number }[]>`SELECT reservations_expire() AS closed`)[0]!.closed).toBe(1);
    expect((await t.post('/transfers', { product: p.id, from: main!.id, to: second, quantity: 1 })).status).toBe(201);

    const events = (await eventsAfter(before)).filter((e) => e.type.startsWith('stock.'));
    const at = (location: number) => ({
      location_id: location,
      location_code: location === main!.id ? main!.code : secondLocation!.code,
    });
    const M = at(main!.id);
    // type, then location, on_hand, available, delta, reason, reference, available_delta.
    const expected: [string, Record<string, unknown>][] = [
      ['stock.adjusted', { ...M, on_hand: 5, available: 5, delta: 5, reason: 'initial', reference: null, available_delta: 5 }],
      ['stock.adjusted', { ...M, on_hand: 2, available: 2, delta: -3, reason: 'sold', reference: 'ORD-7', available_delta: -3 }],
      ['stock.low_stock', { ...M, on_hand: 2, available: 2, delta: -3, reason: 'sold', reference: 'ORD-7', available_delta: -3 }],
      [
        'stock.reserved',
        { ...M, on_hand: 2, available: 0, delta: 0, reason: 'reserved', reference: 'CART-1', available_delta: -2 },
      ],
      [
        'stock.out_of_stock',
        { ...M, on_hand: 2, available: 0, delta: 0, reason: 'reserved', reference: 'CART-1', available_delta: -2 },
      ],
      [
        'stock.released',
        { ...M, on_hand: 2, available: 2, delta: 0, reason: 'released', reference: 'CART-1', available_delta: 2 },
      ],
      [
        'stock.back_in_stock',
        { ...M, on_hand: 2, available: 2, delta: 0, reason: 'released', reference: 'CART-1', available_delta: 2 },
      ],
      [
        'stock.reserved',
        { ...M, on_hand: 2, available: 1, delta: 0, reason: 'reserved', reference: 'CART-2', available_delta: -1 },
      ],
      // A fulfilment takes stock its reservation held: on hand falls, available does not.
      ['stock.fulfilled', { ...M, on_hand: 1, available: 1, delta: -1, reason: 'sold', reference: 'CART-2', available_delta: 0 }],
      [
        'stock.reserved',
        { ...M, on_hand: 1, available: 0, delta: 0, reason: 'reserved', reference: 'CART-3', available_delta: -1 },
      ],
      [
        'stock.out_of_stock',
        { ...M, on_hand: 1, available: 0, delta: 0, reason: 'reserved', reference: 'CART-3', available_delta: -1 },
      ],
      ['stock.expired', { ...M, on_hand: 1, available: 1, delta: 0, reason: 'expired', reference: 'CART-3', available_delta: 1 }],
      [
        'stock.back_in_stock',
        { ...M, on_hand: 1, available: 1, delta: 0, reason: 'expired', reference: 'CART-3', available_delta: 1 },
      ],
      [
        'stock.transferred',
        { ...M, on_hand: 0, available: 0, delta: -1, reason: 'transfer_out', reference: null, available_delta: -1 },
      ],
      [
        'stock.out_of_stock',
        { ...M, on_hand: 0, available: 0, delta: -1, reason: 'transfer_out', reference: null, available_delta: -1 },
      ],
      [
        'stock.transferred',
        { ...at(second), on_hand: 1, available: 1, delta: 1, reason: 'transfer_in', reference: null, available_delta: 1 },
      ],
      [
        'stock.back_in_stock',
        { ...at(second), on_hand: 1, available: 1, delta: 1, reason: 'transfer_in', reference: null, available_delta: 1 },
      ],
    ];
    expect(events.map((e) => [e.type, fieldsOf(e)])).toEqual(expected);
    // Each of the nine stock types is among them, and every one has each field (a null reference included).
    expect(new Set(events.map((e) => e.type)).size).toBe(9);
    for (const e of events) expect(Object.keys(e.data)).toEqual(expect.arrayContaining(STOCK_FIELDS));
    // The crossings still name the change that caused them.
    expect(events.filter((e) => !('movement_id' in e.data) && !('reservation_id' in e.data)).map((e) => e.data.cause)).toEqual([
      'stock.adjusted',
      'stock.reserved',
      'stock.released',
      'stock.reserved',
      'stock.expired',
      'stock.transferred',
      'stock.transferred',
    ]);
    expect(events[1]!.data).toMatchObject({ location_id: main!.id, product_id: p.id, sku: p.sku });
  });
});

describe('imports', () => {
  test('an import publishes each product and movement, then import.completed; one with invalid rows publishes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inventory-events-'));
    try {
      const category = unique('Imported');
      const sku = unique('IMP').replace(/[^A-Za-z0-9]/g, '');
      const good = join(dir, 'stock.csv');
      writeFileSync(
        good,
        `sku,name,price,quantity,category\n${sku}-1,${unique('Imported one')},1.50,4,${category}\n${sku}-2,${unique('Imported two')},2.50,0,${category}\n`,
      );
      const before = await lastEventId();
      const result = await importFile(t.db.sql, good);
      expect(result.applied).toBe(true);
      const events = await eventsAfter(before);
      expect(events.map((e) => e.type)).toEqual([
        'category.created',
        'product.created',
        'product.created',
        'stock.adjusted',
        'import.completed',
      ]);
      expect(events[4]!.data).toMatchObject({ file: 'stock.csv', rows: 2, inserted: 2, updated: 0, categories_created: 1 });

      const bad = join(dir, 'bad.csv');
      writeFileSync(bad, `sku,name,price,quantity,category\n${sku}-3,${unique('Imported three')},-1,4,${category}\n`);
      const after = await lastEventId();
      expect((await importFile(t.db.sql, bad)).applied).toBe(false);
      expect(await eventsAfter(after)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('publishing: positions in commit order', () => {
  const publish = async () => (await t.db.sql<{ n: number }[]>`SELECT events_publish() AS n`)[0]!.n;
  const positionOf = async (id: number) =>
    (await t.db.sql<{ position: string | null }[]>`SELECT position FROM events WHERE id = ${id}`)[0]!.position;

  test('an event whose transaction is still open gets no position; once it commits it comes after those published meanwhile', async () => {
    await publish();
    const p = await createProduct(0);
    let held = 0;
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let opened!: () => void;
    const isOpen = new Promise<void>((resolve) => {
      opened = resolve;
    });
    // A writer that inserts its event (a lower id) and stays open.
    const writer = t.db.sql.begin(async (tx) => {
      const [row] = await tx<{ id: number }[]>`
        INSERT INTO events (type, product_id, data) VALUES ('product.touched', ${p.id}, '{}') RETURNING id::int`;
      held = row!.id;
      opened();
      await released;
    });
    await isOpen;
    const later = await createProduct(0);
    expect(await publish()).toBeGreaterThan(0);
    const [laterEvent] = await t.db.sql<{ id: number; position: string }[]>`
      SELECT id::int, position FROM events WHERE product_id = ${later.id} AND type = 'product.created'`;
    expect(laterEvent!.id).toBeGreaterThan(held);
    expect(laterEvent!.position).not.toBeNull();
    // Not visible to others, so not published.
    expect(await t.db.sql`SELECT 1 FROM events WHERE id = ${held}`).toHaveLength(0);
    release();
    await writer;
    expect(await publish()).toBe(1);
    expect(BigInt((await positionOf(held))!)).toBeGreaterThan(BigInt(laterEvent!.position));
  });

  test('only one publisher at a time: a second one meanwhile publishes nothing', async () => {
    await createProduct(0);
    await t.db.sql.begin(async (tx) => {
      await tx`SELECT 1 FROM event_publisher FOR UPDATE`;
      expect((await t.db.sql<{ n: number }[]>`SELECT events_publish() AS n`)[0]!.n).toBe(0);
    });
    expect(await publish()).toBeGreaterThan(0);
    const [gaps] = await t.db.sql<{ n: number; max: string; last: string }[]>`
      SELECT count(*)::int AS n, max(position)::text AS max, (SELECT last_position::text FROM event_publisher) AS last
      FROM events WHERE position IS NOT NULL`;
    expect(gaps!.max).toBe(gaps!.last);
    expect(String(gaps!.n)).toBe(gaps!.last);
  });
});
