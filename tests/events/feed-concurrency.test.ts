/**
 * The feed under concurrent writers: more than 10,000 changes (adjustments,
 * transfers, reservations with their releases and fulfilments, batch
 * adjustments, an import, and transactions held open on purpose) from 16
 * concurrent clients through the real HTTP app on a real listener, with the
 * publisher running, while one consumer polls GET /events and another follows
 * GET /events/stream, both from the start. Afterwards each has every event
 * exactly once, in position order; positions have no gap; and each stock
 * event shows its movement's on hand, in movement order per level.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBackground } from '../../src/background.ts';
import { defaultConfig } from '../../src/config.ts';
import { createPool, type Pool } from '../../src/db.ts';
import type { FeedEvent } from '../../src/events/model.ts';
import { importFile } from '../../src/import/import-file.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestApp, listen, type TestApp } from '../support/app.ts';
import { readPage, sseReader, waitUntil } from './support.ts';

const PRODUCTS = 200;
const IMPORT_ROWS = 4000;
/** Changes the HTTP writers and the held transactions make; the import adds two per row (a product and its stock). */
const CHANGES = 2600;
const CLIENTS = 16;
const HOLDERS = 2;

let t: TestApp;
let server: ReturnType<typeof listen>;
let backgroundSql: Pool;
let jobs: { stop: () => Promise<void> };
let second: number;
/** The changes the set-up made: each product, and its stock at both locations. */
const seeded = PRODUCTS * 3;
const dir = mkdtempSync(join(tmpdir(), 'inventory-feed-concurrency-'));

beforeAll(async () => {
  t = await createTestApp({ poolMax: 20 });
  server = listen(t.app);
  await t.db.sql.begin(async (tx) => {
    await tx`SET LOCAL statement_timeout = 0`;
    const [category] = await tx<{ id: number }[]>`INSERT INTO categories (name) VALUES ('Concurrency') RETURNING id`;
    const [location] = await tx<{ id: number }[]>`INSERT INTO locations (code, name) VALUES ('SECOND', 'Second') RETURNING id`;
    second = location!.id;
    await tx`
      INSERT INTO products (sku, name, price, quantity, category_id)
      SELECT 'CC-' || i, 'Concurrency item ' || i, 1, 0, ${category!.id} FROM generate_series(1, ${PRODUCTS}::int) i`;
    await tx`SELECT stock_adjust(p.id, l.id, 400, 'received') FROM products p, locations l ORDER BY p.id, l.id`;
  });
  backgroundSql = createPool({ databaseUrl: t.db.url, poolMax: 2 }, 'inventory-background');
  jobs = startBackground({ sql: backgroundSql, config: defaultConfig(), logger: createLogger('info') });
});

afterAll(async () => {
  await jobs?.stop();
  await backgroundSql?.end({ timeout: 5 });
  server?.stop();
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

const random = (n: number) => Math.floor(Math.random() * n);
const productId = () => 1 + random(PRODUCTS);
const location = () => (random(2) === 0 ? 1 : second);

test('every event exactly once, in commit order, to a polling and a streaming consumer, consistent with the ledger', async () => {
  let changes = 0;
  let writing = true;
  const statuses = new Map<number, number>();

  const send = async (path: string, method: string, body?: unknown) => {
    const res = await server.fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    // Refusals (no stock, a busy pool) are expected under this load; anything else is a failure.
    if (![200, 201, 409, 503].includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.status < 300 ? ((await res.json()) as Record<string, any>) : undefined;
  };

  /** One change (or a few) through the API, picked at random. */
  const operations: (() => Promise<number>)[] = [
    async () => {
      const delta = random(2) === 0 ? 1 + random(3) : -(1 + random(3));
      const body = { delta, reason: delta > 0 ? 'received' : 'sold', location: location() };
      return (await send(`/products/${productId()}/stock-adjustments`, 'POST', body)) ? 1 : 0;
    },
    async () => {
      const [from, to] = random(2) === 0 ? [1, second] : [second, 1];
      return (await send('/transfers', 'POST', { product: productId(), from, to, quantity: 1 + random(2) })) ? 1 : 0;
    },
    async () => {
      const reservation = await send('/reservations', 'POST', {
        product: productId(),
        location: location(),
        quantity: 1 + random(2),
        expires_in_s: 600,
      });
      if (!reservation) return 0;
      const closed =
        random(2) === 0
          ? await send(`/reservations/${reservation.id}`, 'DELETE')
          : await send(`/reservations/${reservation.id}/fulfil`, 'POST', {});
      return closed ? 2 : 1;
    },
    async () => {
      const products = [...new Set(Array.from({ length: 40 }, productId))];
      const adjustments = products.map((product) => {
        const delta = random(3) === 0 ? -1 : 1 + random(2);
        return { product, delta, reason: delta > 0 ? 'received' : 'sold', location: location() };
      });
      return (await send('/stock-adjustments', 'POST', { adjustments })) ? adjustments.length : 0;
    },
  ];
  const writer = async () => {
    while (changes < CHANGES) {
      const made = await operations[random(operations.length)]!();
      changes += made;
    }
  };
  /** A writer whose transactions stay open a while after their change: their events get ids long before they commit. */
  const holder = async () => {
    while (changes < CHANGES) {
      await t.db.sql.begin(async (tx) => {
        // It may wait behind a batch on a loaded machine: no statement timeout for the test's own writer.
        await tx`SET LOCAL statement_timeout = 0`;
        await tx`SELECT stock_adjust(${productId()}::bigint, ${location()}::bigint, 1, 'received')`;
        await tx`SELECT pg_sleep(${0.02 + Math.random() * 0.2})`;
      });
      changes++;
    }
  };
  const importing = (async () => {
    const file = join(dir, 'products.csv');
    const rows = Array.from({ length: IMPORT_ROWS }, (_, i) => `IMP-${i},Imported item ${i},2.50,${1 + (i % 7)},Imported`);
    writeFileSync(file, `sku,name,price,quantity,category\n${rows.join('\n')}\n`);
    const result = await importFile(t.db.sql, file);
    expect(result).toMatchObject({ applied: true, inserted: IMPORT_ROWS });
  })();

  // The consumers, from the start of the feed, until they reach its final end (or the test failed).
  const polled: FeedEvent[] = [];
  let finalEnd = Number.POSITIVE_INFINITY;
  let failed = false;
  const poller = (async () => {
    let last = 0;
    while (last < finalEnd && !failed) {
      const page = await readPage(server.fetch, `after=${last}&limit=1000`);
      polled.push(...page.events);
      last = page.last;
      // Caught up: poll again a little later, as a consumer would.
      if (!page.next) await Bun.sleep(50);
    }
  })();
  const streamed: FeedEvent[] = [];
  const stream = sseReader(await server.fetch('/events/stream?after=0'));
  const streamer = (async () => {
    while ((streamed.at(-1)?.position ?? 0) < finalEnd && !failed) {
      // Short waits, so that the loop sees the final end once it is known.
      const message = await stream.within(200);
      if (message === undefined) throw new Error('the stream ended');
      if (message?.data !== undefined) streamed.push(JSON.parse(message.data) as FeedEvent);
    }
  })();

  const started = Date.now();
  try {
    await Promise.all([
      ...Array.from({ length: CLIENTS - HOLDERS }, writer),
      ...Array.from({ length: HOLDERS }, holder),
      importing,
    ]);
  } catch (error) {
    failed = true;
    await stream.cancel();
    await Promise.allSettled([poller, streamer]);
    throw error;
  }
  writing = false;
  const wrote = ((Date.now() - started) / 1000).toFixed(1);
  await waitUntil(
    'every event published',
    async () => (await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM events WHERE position IS NULL`)[0]!.n === 0,
    30_000,
  );
  finalEnd = (await t.db.sql<{ n: number }[]>`SELECT last_position AS n FROM event_publisher`)[0]!.n;
  await Promise.all([poller, streamer]);
  await stream.cancel();
  expect(writing).toBe(false);

  // Enough changes: every movement, reservation and product written, less the catalog made before.
  const [written] = await t.db.sql<{ n: number }[]>`
      SELECT ((SELECT count(*) FROM stock_movements) + (SELECT count(*) FROM reservations)
              + (SELECT count(*) FROM reservations WHERE state <> 'open') + (SELECT count(*) FROM products))::int
             - ${seeded}::int AS n`;
  expect(written!.n).toBeGreaterThanOrEqual(10_000);
  expect(statuses.get(201)).toBeGreaterThan(200);

  // Every event exactly once, in position order, positions without a gap.
  const all = await t.db.sql<{ id: number; position: number }[]>`SELECT id, position FROM events ORDER BY position`;
  expect(all.map((e) => e.position)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
  const ids = all.map((e) => e.id);
  console.log(`feed under concurrency: ${written!.n} changes written in ${wrote} s, ${all.length} events in the feed`);
  for (const [name, got] of [
    ['polled', polled],
    ['streamed', streamed],
  ] as const) {
    expect({ name, count: got.length }).toEqual({ name, count: all.length });
    expect(got.map((e) => e.id)).toEqual(ids);
    expect(got.map((e) => e.position)).toEqual(all.map((e) => e.position));
  }
  // Ids are not commit order: some events were published after others with higher ids.
  expect(ids.some((id, i) => i > 0 && id < ids[i - 1]!)).toBe(true);

  // Each movement has its one stock event showing the on hand after it, and per level they come in movement order.
  const movements = await t.db.sql<{ id: number; quantity_after: number }[]>`SELECT id, quantity_after FROM stock_movements`;
  const onHandAfter = new Map(movements.map((m) => [m.id, m.quantity_after]));
  const lastMovement = new Map<string, number>();
  const seen = new Set<number>();
  const wrong: string[] = [];
  for (const event of streamed) {
    if (!['stock.adjusted', 'stock.transferred', 'stock.fulfilled'].includes(event.type)) continue;
    const data = event.data as { movement_id: number; on_hand: number; product_id: number; location_id: number };
    seen.add(data.movement_id);
    if (data.on_hand !== onHandAfter.get(data.movement_id)) {
      wrong.push(`movement ${data.movement_id}: on_hand ${data.on_hand}, ledger ${onHandAfter.get(data.movement_id)}`);
    }
    const level = `${data.product_id}@${data.location_id}`;
    if ((lastMovement.get(level) ?? 0) >= data.movement_id) wrong.push(`${level}: movement ${data.movement_id} out of order`);
    lastMovement.set(level, data.movement_id);
  }
  expect(wrong).toEqual([]);
  expect(seen.size).toBe(movements.length);
}, 120_000);
