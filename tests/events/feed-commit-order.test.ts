/**
 * The feed is in commit order: a writer that holds its transaction open keeps
 * its events (lower ids) out of the feed while later writers commit and are
 * published and read; once it commits, a consumer following the feed from
 * where it stopped receives them after what it read, and skips nothing.
 */
import { afterAll, beforeAll, expect, test as bunTest } from 'bun:test';
import type { FeedEvent } from '../../src/events/model.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { json, unique } from '../support/values.ts';
import { publishAll, readPage } from './support.ts';

/** These tests wait on other processes and connections: longer than the default 5 s on a loaded machine. */
const test = (name: string, fn: () => Promise<void>, timeout = 30_000) => bunTest(name, fn, timeout);

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

async function createProduct(quantity: number): Promise<number> {
  const res = await t.post('/products', { name: unique('Commit order'), price: 1, quantity });
  expect(res.status).toBe(201);
  return (await json(res)).id;
}

test('an event held in an open transaction enters the feed after those committed meanwhile, and the consumer gets it', async () => {
  const held = await createProduct(10);
  const others = [await createProduct(10), await createProduct(10)];
  await publishAll(t.db.sql);

  // The consumer: follows GET /events from where it stopped.
  const read: FeedEvent[] = [];
  let last = 0;
  const poll = async () => {
    for (;;) {
      const page = await readPage((path) => t.request(path), `after=${last}&limit=5`);
      read.push(...page.events);
      last = page.last;
      if (!page.next) return;
    }
  };
  await poll();

  // A writer adjusts `held` in a transaction that stays open: its events get ids now.
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let opened!: (ids: number[]) => void;
  const isOpen = new Promise<number[]>((resolve) => {
    opened = resolve;
  });
  const writer = t.db.sql.begin(async (tx) => {
    await tx`SELECT stock_adjust(${held}::bigint, 1, -10, 'sold', NULL, 'held-open')`;
    const rows = await tx<{ id: number }[]>`SELECT id FROM events WHERE product_id = ${held} AND position IS NULL ORDER BY id`;
    opened(rows.map((r) => r.id));
    await released;
  });
  const heldIds = await isOpen;
  expect(heldIds.length).toBe(2); // stock.adjusted, stock.out_of_stock

  // Others commit after it began, with later ids; they are published and read.
  for (const product of others) {
    for (const delta of [-1, -2, 3]) {
      const res = await t.post(`/products/${product}/stock-adjustments`, { delta, reason: delta > 0 ? 'received' : 'sold' });
      expect(res.status).toBe(201);
    }
  }
  await publishAll(t.db.sql);
  const before = read.length;
  await poll();
  const meanwhile = read.slice(before);
  expect(meanwhile.length).toBeGreaterThanOrEqual(6);
  expect(Math.min(...meanwhile.map((e) => e.id))).toBeGreaterThan(Math.max(...heldIds));
  expect(read.some((e) => heldIds.includes(e.id))).toBe(false);

  // The writer commits: its events are published after those, and the consumer receives them from where it stopped.
  release();
  await writer;
  await publishAll(t.db.sql);
  const stoppedAt = last;
  await poll();
  const arrived = read.filter((e) => heldIds.includes(e.id));
  expect(arrived.map((e) => e.id)).toEqual(heldIds);
  for (const e of arrived) expect(e.position).toBeGreaterThan(stoppedAt);
  expect(arrived[0]!.data).toMatchObject({ reference: 'held-open', on_hand: 0 });

  // Nothing skipped, nothing twice, in position order.
  const all = await t.db.sql<{ id: number }[]>`SELECT id FROM events ORDER BY position`;
  expect(read.map((e) => e.id)).toEqual(all.map((r) => r.id));
  expect(new Set(read.map((e) => e.id)).size).toBe(read.length);
});
