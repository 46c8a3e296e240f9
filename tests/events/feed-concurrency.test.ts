/**
 * The feed under concurrent writers: more than 10,000 changes made by the
 * concurrent writers alone (single and batch adjustments, transfers,
 * reservations then released or fulfilled, and transactions held open on
 * purpose) from 16 concurrent clients through the real HTTP app on a real
 * listener, beside one small import, with the publisher running, while one
 * consumer polls GET /events and another follows GET /events/stream, both from
 * the start. Afterwards each has every event exactly once, in position order,
 * those of the transactions held open longest too (which later events
 * overtook); positions have no gap; each kind of change is there in numbers;
 * and each stock event shows its movement's on hand, in movement order per level.
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
const IMPORT_ROWS = 500;
/** Changes the concurrent writers make by themselves (the import and the set-up not counted). */
const CHANGES = 10_000;
const CLIENTS = 16;
const HOLDERS = 2;
/** Each kind of change, at least this many times (a batch counts its items, a transfer its two movements). */
const MINIMUMS = {
  adjustments: 300,
  batch_items: 1000,
  transfer_movements: 300,
  reservations_released: 100,
  reservations_fulfilled: 100,
  held: 40,
  held_longest: 4,
} as const;
type Kind = keyof typeof MINIMUMS;
/** Every how many held transactions one is held open until this many events written after its own are in the feed. */
const LONG_HOLD_EVERY = 8;
const OVERTAKEN_BY = 200;
/** The most the writers write (about 15 s on a loaded 2-core machine); the test's own limit is 180 s. */
const WRITE_LIMIT_MS = 120_000;

let t: TestApp;
let server: ReturnType<typeof listen>;
let backgroundSql: Pool;
let jobs: { stop: () => Promise<void> };
let second: number;
/** Products only the holders' longest transactions touch: held open there, they keep no other writer waiting. */
let heldProducts: number[];
/** The changes the set-up made: each product, and its stock at both locations. */
const seeded = (PRODUCTS + HOLDERS) * 3;
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
    const held = await tx<{ id: number }[]>`
      INSERT INTO products (sku, name, price, quantity, category_id)
      SELECT 'HELD-' || i, 'Held item ' || i, 1, 0, ${category!.id} FROM generate_series(1, ${HOLDERS}::int) i
      RETURNING id`;
    heldProducts = held.map((r) => Number(r.id));
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
  let writing = true;
  const statuses = new Map<number, number>();
  /** What the writers made so far: changes in all, and by kind (their own tally, to know when to stop; the database's is checked after). */
  let changes = 0;
  const made = Object.fromEntries(Object.keys(MINIMUMS).map((k) => [k, 0])) as Record<Kind, number>;
  const count = (kind: Kind | undefined, n: number) => {
    if (kind) made[kind] += n;
    changes += n;
  };
  const short = (kind: Kind) => made[kind] < MINIMUMS[kind];
  // Past WRITE_LIMIT_MS the writers stop whatever they made (a kind always refused would keep them going): the
  // counts below then say what is missing.
  const stopAt = Date.now() + WRITE_LIMIT_MS;
  const enough = () => (changes >= CHANGES && !(Object.keys(MINIMUMS) as Kind[]).some(short)) || Date.now() > stopAt;

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

  /** The writers' changes through the API, each with the kind it adds to; picked at random, by weight. */
  const operations: { kinds: Kind[]; weight: number; run: () => Promise<void> }[] = [
    {
      kinds: ['adjustments'],
      weight: 3,
      run: async () => {
        const delta = random(2) === 0 ? 1 + random(3) : -(1 + random(3));
        const body = { delta, reason: delta > 0 ? 'received' : 'sold', location: location(), reference: 'single' };
        if (await send(`/products/${productId()}/stock-adjustments`, 'POST', body)) count('adjustments', 1);
      },
    },
    {
      kinds: ['transfer_movements'],
      weight: 2,
      run: async () => {
        const [from, to] = random(2) === 0 ? [1, second] : [second, 1];
        if (await send('/transfers', 'POST', { product: productId(), from, to, quantity: 1 + random(2) })) {
          count('transfer_movements', 2);
        }
      },
    },
    {
      kinds: ['reservations_released', 'reservations_fulfilled'],
      weight: 2,
      run: async () => {
        const reservation = await send('/reservations', 'POST', {
          product: productId(),
          location: location(),
          quantity: 1 + random(2),
          expires_in_s: 600,
          reference: 'cart',
        });
        if (!reservation) return;
        count(undefined, 1);
        if (random(2) === 0) {
          // Its release closes it.
          if (await send(`/reservations/${reservation.id}`, 'DELETE')) count('reservations_released', 1);
        } else if (await send(`/reservations/${reservation.id}/fulfil`, 'POST', {})) {
          // Its fulfilment closes it and moves its stock out.
          count('reservations_fulfilled', 1);
          count(undefined, 1);
        }
      },
    },
    {
      kinds: ['batch_items'],
      weight: 1,
      run: async () => {
        const products = [...new Set(Array.from({ length: 20 }, productId))];
        const adjustments = products.map((product) => {
          const delta = random(3) === 0 ? -1 : 1 + random(2);
          return { product, delta, reason: delta > 0 ? 'received' : 'sold', location: location(), reference: 'batch' };
        });
        if (await send('/stock-adjustments', 'POST', { adjustments })) count('batch_items', adjustments.length);
      },
    },
  ];
  const weighted = operations.flatMap((op) => Array.from({ length: op.weight }, () => op));
  /** Transactions held open now until later events overtake them: the writers go on meanwhile. */
  let holding = 0;
  const writer = async () => {
    while (!enough() || holding > 0) {
      // Enough changes in all: only what some kind still lacks (anything, when only the holders lack some).
      const lacking = changes >= CHANGES ? weighted.filter((op) => op.kinds.some(short)) : weighted;
      const choices = lacking.length > 0 ? lacking : weighted;
      await choices[random(choices.length)]!.run();
    }
  };
  /** The transactions held open longest: their movement, and how long each was open. */
  const longHolds: { movement: number; heldMs: number }[] = [];
  /**
   * A writer whose transactions stay open after their change: their events get ids long before they commit.
   * Most stay open 20 to 220 ms, on any product (keeping the writers of that product waiting); every
   * LONG_HOLD_EVERY-th until OVERTAKEN_BY events written after its own are in the feed, on a product of its
   * own, so that it keeps no writer waiting (they write those events meanwhile).
   */
  const holder = async (product: number) => {
    for (let n = 1; !enough(); n++) {
      const long = n % LONG_HOLD_EVERY === 0;
      const began = Date.now();
      if (long) holding++;
      try {
        const movement = await t.db.sql.begin(async (tx) => {
          await tx`SET LOCAL statement_timeout = 0`;
          const [change] = await tx<{ movement: number }[]>`
            SELECT (c.movement).id AS movement
            FROM stock_adjust(${long ? product : productId()}::bigint, ${location()}::bigint, 1, 'received', NULL,
                              ${long ? 'held-long' : 'held'}) c`;
          if (long) {
            const [last] = await tx<{ id: number }[]>`SELECT max(id) AS id FROM events`;
            await waitUntil(
              `${OVERTAKEN_BY} events written after the held one to be published`,
              async () =>
                (
                  await t.db.sql<{ n: number }[]>`
                    SELECT count(*)::int AS n
                    FROM (SELECT 1 FROM events WHERE id > ${last!.id} AND position IS NOT NULL LIMIT ${OVERTAKEN_BY}) later`
                )[0]!.n >= OVERTAKEN_BY,
              60_000,
            );
          } else {
            await tx`SELECT pg_sleep(${0.02 + Math.random() * 0.2})`;
          }
          return Number(change!.movement);
        });
        count('held', 1);
        if (long) {
          // One of the held ones (counted there), held open the longest.
          made.held_longest++;
          longHolds.push({ movement, heldMs: Date.now() - began });
        }
      } finally {
        if (long) holding--;
      }
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
    await Promise.all([...Array.from({ length: CLIENTS - HOLDERS }, writer), ...heldProducts.map(holder), importing]);
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

  // Enough changes from the writers alone, each kind in numbers, as the database counts them: every movement,
  // reservation made and closed, and product written, less the catalog made before and the import.
  const [db] = await t.db.sql<(Record<Kind, number> & { all: number; reservations: number; fulfilments: number })[]>`
    SELECT count(*) FILTER (WHERE m.reference = 'single')::int AS adjustments,
           count(*) FILTER (WHERE m.reference = 'batch')::int AS batch_items,
           count(*) FILTER (WHERE m.transfer_id IS NOT NULL)::int AS transfer_movements,
           count(*) FILTER (WHERE m.reservation_id IS NOT NULL)::int AS fulfilments,
           count(*) FILTER (WHERE m.reference IN ('held', 'held-long'))::int AS held,
           count(*) FILTER (WHERE m.reference = 'held-long')::int AS held_longest,
           (SELECT count(*) FROM reservations)::int AS reservations,
           (SELECT count(*) FROM reservations WHERE state = 'released')::int AS reservations_released,
           (SELECT count(*) FROM reservations WHERE state = 'fulfilled')::int AS reservations_fulfilled,
           (count(*) + (SELECT count(*) FROM reservations) + (SELECT count(*) FROM reservations WHERE state <> 'open')
            + (SELECT count(*) FROM products))::int - ${seeded}::int AS all
    FROM stock_movements m`;
  const byWriters =
    db!.adjustments +
    db!.batch_items +
    db!.transfer_movements +
    db!.held +
    db!.reservations +
    db!.reservations_released +
    db!.reservations_fulfilled +
    db!.fulfilments;
  // Nothing else wrote: the writers' changes and the import's (a product and its stock per row) are all there is.
  expect(db!.all).toBe(byWriters + 2 * IMPORT_ROWS);
  expect(db!.fulfilments).toBe(db!.reservations_fulfilled);
  expect(byWriters).toBeGreaterThanOrEqual(CHANGES);
  const kinds = Object.fromEntries((Object.keys(MINIMUMS) as Kind[]).map((k) => [k, db![k]]));
  for (const kind of Object.keys(MINIMUMS) as Kind[]) {
    expect({ kind, atLeast: db![kind] >= MINIMUMS[kind] }).toEqual({ kind, atLeast: true });
  }
  expect(statuses.get(201)).toBeGreaterThan(200);

  // Every event exactly once, in position order, positions without a gap.
  const all = await t.db.sql<{ id: number; position: number }[]>`SELECT id, position FROM events ORDER BY position`;
  expect(all.map((e) => e.position)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
  const ids = all.map((e) => e.id);
  console.log(
    `feed under concurrency: ${byWriters} changes by the writers and ${2 * IMPORT_ROWS} by the import in ${wrote} s, ` +
      `${all.length} events in the feed; ${JSON.stringify(kinds)}; held open longest ${Math.min(...longHolds.map((h) => h.heldMs))} to ${Math.max(...longHolds.map((h) => h.heldMs))} ms`,
  );
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
  // The transactions held open longest: each one's event reached both consumers once, after events written later.
  expect(longHolds.length).toBe(db!.held_longest);
  for (const hold of longHolds) {
    for (const [name, got] of [
      ['polled', polled],
      ['streamed', streamed],
    ] as const) {
      const at = got.flatMap((e, i) => (e.type === 'stock.adjusted' && e.data.movement_id === hold.movement ? [i] : []));
      expect({ name, movement: hold.movement, times: at.length }).toEqual({ name, movement: hold.movement, times: 1 });
      const event = got[at[0]!]!;
      // Published while it was held: events with higher ids, before it in the feed.
      const overtakenBy = got.slice(0, at[0]).filter((e) => e.id > event.id).length;
      expect({ name, movement: hold.movement, overtaken: overtakenBy >= OVERTAKEN_BY }).toEqual({
        name,
        movement: hold.movement,
        overtaken: true,
      });
    }
  }

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
}, 180_000);
