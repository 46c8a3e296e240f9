/**
 * GET /events: the published events after a position, in position order,
 * paged (Link rel="next", Events-Last-Position), filtered by type and product;
 * bad input refused with 422; nothing before it is published; and the
 * documented example is what a real change gives.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { EVENT_TYPES, type FeedEvent } from '../../src/events/model.ts';
import { createApp } from '../../src/app.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { checkedApp, contractDocument } from '../support/contract.ts';
import { expectProblem } from '../support/problem.ts';
import { json, unique } from '../support/values.ts';
import { publishAll, readPage } from './support.ts';

let t: TestApp;
const fetchApp = (path: string, init?: RequestInit) => t.request(path, init);

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

async function createProduct(quantity: number): Promise<{ id: number; sku: string }> {
  const res = await t.post('/products', { name: unique('Feed item'), price: 3, quantity, category: 'Feed' });
  expect(res.status).toBe(201);
  return json(res);
}

const adjust = async (product: number, delta: number, extra: Record<string, unknown> = {}) => {
  const res = await t.post(`/products/${product}/stock-adjustments`, {
    delta,
    reason: delta > 0 ? 'received' : 'sold',
    ...extra,
  });
  expect(res.status).toBe(201);
};

/** The published events as the database holds them, in position order, optionally filtered. */
async function published(where: { after?: number; types?: string[]; product?: number } = {}): Promise<number[]> {
  const rows = await t.db.sql<{ id: number }[]>`
    SELECT id FROM events
    WHERE position > ${where.after ?? 0}
      ${where.types ? t.db.sql`AND type = ANY(${where.types}::text[])` : t.db.sql``}
      ${where.product ? t.db.sql`AND product_id = ${where.product}` : t.db.sql``}
    ORDER BY position`;
  return rows.map((r) => r.id);
}

async function feedEnd(): Promise<number> {
  const [row] = await t.db.sql<{ n: number }[]>`SELECT last_position AS n FROM event_publisher`;
  return row!.n;
}

/** Follows the feed from `after` with `query`, page by page through Link rel="next", until a page says nothing more follows. */
async function follow(query: string, after = 0): Promise<{ events: FeedEvent[]; pages: number; last: number }> {
  const events: FeedEvent[] = [];
  let pages = 0;
  let page = await readPage(fetchApp, `${query}&after=${after}`);
  for (;;) {
    pages++;
    events.push(...page.events);
    if (!page.next) return { events, pages, last: page.last };
    expect(page.last).toBe(page.events.at(-1)!.position);
    const target = /^<([^>]+)>; rel="next"$/.exec(page.next)![1]!;
    expect(new URL(target, 'http://x').searchParams.get('after')).toBe(String(page.last));
    page = await readPage(fetchApp, target.replace(/^\/events\?/, ''));
  }
}

describe('paging', () => {
  let products: { id: number }[];
  beforeAll(async () => {
    products = [await createProduct(5), await createProduct(0), await createProduct(2)];
    await adjust(products[0]!.id, -5);
    await adjust(products[1]!.id, 4);
    await adjust(products[2]!.id, -1);
    await publishAll(t.db.sql);
  });

  test('the whole feed, page by page, is every published event once, in position order', async () => {
    const { events, pages, last } = await follow('limit=3');
    expect(events.map((e) => e.id)).toEqual(await published());
    expect(pages).toBeGreaterThan(3);
    const positions = events.map((e) => e.position);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(new Set(positions).size).toBe(positions.length);
    expect(last).toBe(await feedEnd());
    for (const e of events)
      expect(Object.keys(e).sort()).toEqual(['data', 'id', 'occurred_at', 'position', 'product_id', 'type']);
  });

  test('a page holds at most `limit` events; 100 by default, 1000 at most', async () => {
    expect((await readPage(fetchApp, 'limit=2')).events).toHaveLength(2);
    const all = await published();
    expect((await readPage(fetchApp, '')).events).toHaveLength(Math.min(100, all.length));
    expect((await readPage(fetchApp, 'limit=1000')).events.map((e) => e.id)).toEqual(all.slice(0, 1000));
  });

  test('`after` starts after a position: the events after it, and from the end an empty page that says where to poll from', async () => {
    const all = await published();
    const [, second] = (await readPage(fetchApp, 'limit=2')).events;
    const rest = await follow('limit=50', second!.position);
    expect(rest.events.map((e) => e.id)).toEqual(all.slice(2));
    const end = await feedEnd();
    const empty = await readPage(fetchApp, `after=${end}`);
    expect(empty).toEqual({ events: [], last: end, next: null });
    // Beyond the end (a position this feed has not reached): nothing, and the consumer's own position back.
    expect(await readPage(fetchApp, `after=${end + 1000}`)).toEqual({ events: [], last: end + 1000, next: null });
  });

  test('several types: only those, all of them, in position order; a filtered consumer continues from the end', async () => {
    const types = ['stock.out_of_stock', 'product.created'];
    const { events, last } = await follow(`type=${types.join(',')}&limit=2`);
    expect(events.map((e) => e.id)).toEqual(await published({ types }));
    expect(new Set<string>(events.map((e) => e.type))).toEqual(new Set(types));
    // The last page was not full: it accounts for the feed up to its end, events of other types included.
    expect(last).toBe(await feedEnd());
    // The same type twice, or spaces around the comma: the same filter.
    const again = await readPage(fetchApp, `type=${encodeURIComponent('stock.out_of_stock, stock.out_of_stock')}&limit=1000`);
    expect(again.events.map((e) => e.id)).toEqual(await published({ types: ['stock.out_of_stock'] }));
  });

  test('a product: its events only; with types, its events of those types', async () => {
    const product = products[0]!.id;
    const { events } = await follow(`product=${product}&limit=2`);
    expect(events.map((e) => e.id)).toEqual(await published({ product }));
    expect(events.every((e) => e.product_id === product)).toBe(true);
    // (A first stock is not "back" in stock.)
    expect(events.map((e) => e.type)).toEqual(['product.created', 'stock.adjusted', 'stock.adjusted', 'stock.out_of_stock']);
    const typed = await follow(`product=${product}&type=stock.adjusted&limit=1`);
    expect(typed.events.map((e) => e.id)).toEqual(await published({ product, types: ['stock.adjusted'] }));
    expect(typed.events).toHaveLength(2);
    // Categories have no product.
    const categories = await readPage(fetchApp, 'type=category.created');
    expect(categories.events.length).toBeGreaterThan(0);
    expect(categories.events.every((e) => e.product_id === null)).toBe(true);
  });
});

describe('publishing', () => {
  test('an event is in the feed only once it is published, then with its position', async () => {
    await publishAll(t.db.sql);
    const end = await feedEnd();
    const p = await createProduct(1);
    const [pending] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM events WHERE position IS NULL`;
    expect(pending!.n).toBeGreaterThan(0);
    expect(await readPage(fetchApp, `after=${end}`)).toEqual({ events: [], last: end, next: null });
    expect(await readPage(fetchApp, `product=${p.id}`)).toEqual({ events: [], last: end, next: null });
    const count = await publishAll(t.db.sql);
    const page = await readPage(fetchApp, `after=${end}`);
    expect(page.events).toHaveLength(count);
    expect(page.events.map((e) => e.position)).toEqual(Array.from({ length: count }, (_, i) => end + 1 + i));
    expect(page.last).toBe(end + count);
    expect(page.events.find((e) => e.type === 'product.created')!.product_id).toBe(p.id);
  });
});

describe('bad input', () => {
  test('an unknown type is refused with 422 naming every known type; nothing else is read', async () => {
    const body = await expectProblem(await t.request('/events?type=stock.adjusted,stock.sold'), 422, 'validation_failed');
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].path).toBe('type');
    expect(body.errors[0].message).toContain('"stock.sold"');
    for (const type of EVENT_TYPES) expect(body.errors[0].message).toContain(type);
    for (const bad of ['', 'STOCK.ADJUSTED', 'stock.adjusted,', ',', 'stock.*']) {
      const res = await t.request(`/events?type=${encodeURIComponent(bad)}`);
      expect({ bad, path: (await expectProblem(res, 422, 'validation_failed')).errors[0].path }).toEqual({ bad, path: 'type' });
    }
  });

  test('`after` is 0 or a whole number; `product` an id; `limit` 1 to 1000', async () => {
    const cases: [string, string][] = [
      ['after=-1', 'after'],
      ['after=01', 'after'],
      ['after=1.5', 'after'],
      ['after=1e3', 'after'],
      ['after=abc', 'after'],
      ['after=', 'after'],
      ['after=9007199254740992', 'after'],
      ['product=0', 'product'],
      ['product=abc', 'product'],
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['limit=ten', 'limit'],
    ];
    for (const [query, path] of cases) {
      const body = await expectProblem(await t.request(`/events?${query}`), 422, 'validation_failed');
      expect({ query, paths: body.errors.map((e: { path: string }) => e.path) }).toEqual({ query, paths: [path] });
    }
    expect((await t.request('/events?after=0&limit=1000&product=9007199254740991')).status).toBe(200);
  });

  test('reads need a key where reads do (API_READS_REQUIRE_KEY)', async () => {
    const key = 'feed-reader-key-0123456789';
    const app = checkedApp(
      createApp({ sql: t.db.sql, config: { apiKeys: [key], readsRequireKey: true }, logger: createLogger('silent') }),
    );
    await expectProblem(await app.request('/events'), 401, 'unauthorized');
    expect((await app.request('/events', { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    const open = checkedApp(createApp({ sql: t.db.sql, config: { apiKeys: [key] }, logger: createLogger('silent') }));
    expect((await open.request('/events')).status).toBe(200);
  });
});

describe('the documented example', () => {
  test('a sale that empties a level gives events shaped as the example of GET /events shows them', async () => {
    const doc = await contractDocument();
    const example = doc.paths['/events']!.get.responses['200'].content['application/json'].examples.page.value as FeedEvent[];
    expect(example.map((e) => e.type)).toEqual(['stock.adjusted', 'stock.out_of_stock']);
    const p = await createProduct(2);
    await publishAll(t.db.sql);
    const end = await feedEnd();
    await adjust(p.id, -2, { reference: 'order-1042' });
    await publishAll(t.db.sql);
    const { events } = await readPage(fetchApp, `after=${end}`);
    expect(events.map((e) => e.type)).toEqual(example.map((e) => e.type));
    events.forEach((event, i) => {
      const shown = example[i]!;
      expect(Object.keys(event).sort()).toEqual(Object.keys(shown).sort());
      expect(Object.keys(event.data).sort()).toEqual(Object.keys(shown.data).sort());
      expect(event.data).toMatchObject({ product_id: p.id, sku: p.sku, on_hand: 0, available: 0, available_before: 2 });
      expect(event.position).toBe(end + 1 + i);
    });
    expect(events[0]!.data).toMatchObject({ delta: -2, reason: 'sold', reference: 'order-1042' });
    expect(events[1]!.data).toMatchObject({ cause: 'stock.adjusted' });
  });
});
