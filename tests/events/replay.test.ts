/**
 * An idempotent replay writes no event: the same keyed request sent again
 * answers the stored response and leaves the events table (every event,
 * published or not) as it was, without taking an event id. The first one
 * wrote its events; a refused one wrote none, and neither does its replay.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import { json, unique } from '../support/values.ts';
import { publishAll } from './support.ts';

let t: TestApp;
let product: number;
let second: number;
beforeAll(async () => {
  t = await createTestApp();
  const created = await t.post('/products', { name: unique('Replayed item'), price: 3, quantity: 50 });
  expect(created.status).toBe(201);
  product = (await json(created)).id;
  const location = await t.post('/locations', { code: unique('RPL').replace(' ', '-'), name: unique('Replay location') });
  expect(location.status).toBe(201);
  second = (await json(location)).id;
});
afterAll(async () => {
  await t?.close();
});

/** Every event, published or not, with every column; and the last event id taken (by the superuser: the sequence is the owner's). */
async function eventsTable() {
  const rows = await t.db.admin`
    SELECT id, position, type, product_id, data, occurred_at FROM events ORDER BY id`;
  const [sequence] = await t.db.admin<{ last: string }[]>`
    SELECT last_value::text AS last FROM pg_sequences WHERE sequencename = 'events_id_seq'`;
  return { rows: [...rows], lastId: sequence!.last };
}

/** Sends `body` to `path` with `key` as a client would. */
const send = (path: string, body: unknown, key: string) => t.post(path, body, { 'idempotency-key': key });

/**
 * Sends the keyed request, then the same again; the first must write events
 * (`writes`: whether it should), the second answers what the first did and
 * changes nothing in the events table.
 */
async function expectReplayWritesNothing(
  path: string,
  body: unknown,
  options: { status: number; writes: boolean; between?: (first: Record<string, any>) => Promise<void> },
): Promise<Record<string, any>> {
  const key = unique('replay-key').replace(' ', '-');
  const before = await eventsTable();
  const first = await send(path, body, key);
  expect(first.status).toBe(options.status);
  const firstBody = await first.text();
  const afterFirst = await eventsTable();
  if (options.writes) expect(afterFirst.rows.length).toBeGreaterThan(before.rows.length);
  else expect(afterFirst.rows).toEqual(before.rows);
  if (options.between) await options.between(JSON.parse(firstBody));
  // Some events published, one not (yet): the replay leaves both as they are.
  await publishAll(t.db.sql);
  expect((await t.post('/categories', { name: unique('Unpublished') })).status).toBe(201);
  const beforeReplay = await eventsTable();

  const replay = await send(path, body, key);
  expect(await eventsTable()).toEqual(beforeReplay);
  expect(replay.status).toBe(first.status);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  expect(await replay.text()).toBe(firstBody);
  expect(replay.headers.get('location')).toBe(first.headers.get('location'));
  return JSON.parse(firstBody);
}

describe('an idempotent replay writes no event', () => {
  test('a product create', async () => {
    await expectReplayWritesNothing(
      '/products',
      { name: unique('Replayed create'), price: 2.5, quantity: 4, category: unique('Replayed category') },
      { status: 201, writes: true },
    );
  });

  test('a product create replayed after the product was archived (running it again would create another)', async () => {
    await expectReplayWritesNothing(
      '/products',
      { name: unique('Replayed archived'), price: 2.5, quantity: 1 },
      {
        status: 201,
        writes: true,
        between: async (created) => {
          expect((await t.request(`/products/${created.id}`, { method: 'DELETE' })).status).toBe(204);
        },
      },
    );
  });

  test('a stock adjustment', async () => {
    await expectReplayWritesNothing(
      `/products/${product}/stock-adjustments`,
      { delta: -1, reason: 'sold', reference: 'ORD-R1' },
      { status: 201, writes: true },
    );
  });

  test('a batch adjustment', async () => {
    await expectReplayWritesNothing(
      '/stock-adjustments',
      {
        adjustments: [
          { product, delta: 2, reason: 'received', location: second },
          { product, delta: -1, reason: 'sold', reference: 'ORD-R2' },
        ],
      },
      { status: 201, writes: true },
    );
  });

  test('a reservation, and its fulfilment', async () => {
    const reservation = await expectReplayWritesNothing(
      '/reservations',
      { product, quantity: 2, expires_in_s: 600, reference: 'CART-R1' },
      { status: 201, writes: true },
    );
    await expectReplayWritesNothing(`/reservations/${reservation.id}/fulfil`, { note: 'shipped' }, { status: 201, writes: true });
  });

  test('a transfer', async () => {
    await expectReplayWritesNothing('/transfers', { product, from: 1, to: second, quantity: 3 }, { status: 201, writes: true });
  });

  test('a refused request writes none, and its replay none', async () => {
    await expectReplayWritesNothing(
      `/products/${product}/stock-adjustments`,
      { delta: -10_000, reason: 'sold' },
      { status: 409, writes: false },
    );
  });
});
