/**
 * GET /events/stream across dropped connections, over a real socket to a
 * server process of its own: a client follows the stream while the service
 * writes; the process stops (SIGTERM), then later dies (SIGKILL); events are
 * written while nobody is connected, some published meanwhile and some only
 * by the next process; each time the client reconnects to a new process on
 * the same address, as an EventSource does (the same URL, and the id of the
 * last message it received as Last-Event-ID). In the end it has received
 * every event of the feed once, in order.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import type { FeedEvent } from '../../src/events/model.ts';
import { documentedFetch } from '../support/contract.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { answering, type Proc, spawnServer } from '../support/processes.ts';
import { unique } from '../support/values.ts';
import { publishAll, sseReader, waitUntil } from './support.ts';

let db: TestDatabase;
let port: number;
let base: string;
let category: number;
/** The server process running now, if any. */
let proc: Proc | undefined;

beforeAll(async () => {
  db = await createTestDatabase({ poolMax: 4 });
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const [row] = await db.sql<{ id: number }[]>`INSERT INTO categories (name) VALUES ('Reconnects') RETURNING id`;
  category = row!.id;
});

afterAll(async () => {
  if (proc) {
    proc.proc.kill('SIGKILL');
    await proc.proc.exited;
  }
  await db?.drop();
});

/** Starts a server process (with its background jobs: it publishes) on `port`; ready once it answers /healthz. */
async function startServer(): Promise<Proc> {
  const started = spawnServer('the server', {
    DATABASE_URL: db.url,
    PORT: String(port),
    LOG_LEVEL: 'warn',
    WEB_CONCURRENCY: '1',
    DB_POOL_MAX: '4',
  });
  proc = started;
  await answering(started, port);
  return started;
}

async function stopServer(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  proc!.proc.kill(signal);
  await proc!.proc.exited;
  proc = undefined;
}

type Received = FeedEvent & { sseId: string };

/**
 * A client of the stream as an EventSource is: it keeps what it received, and connects to the same URL each
 * time, sending the id of the last message it received as Last-Event-ID once it has one.
 */
function client() {
  const received: Received[] = [];
  let stream: ReturnType<typeof sseReader> | undefined;
  const lastId = () => received.at(-1)?.sseId;
  return {
    received,
    lastId,
    async connect() {
      const id = lastId();
      const res = await documentedFetch(`${base}/events/stream?after=0`, {
        headers: id === undefined ? {} : { 'last-event-id': id },
      });
      expect(res.status).toBe(200);
      stream = sseReader(res);
    },
    /** Reads until it has received the event at position `end`. */
    async readTo(end: number) {
      while ((received.at(-1)?.position ?? 0) < end) {
        const message = await stream!.next();
        if (message === undefined) throw new Error(`the stream ended at ${received.at(-1)?.position}, before ${end}`);
        if (message.data !== undefined) received.push({ ...(JSON.parse(message.data) as FeedEvent), sseId: message.id! });
      }
    },
    /** Reads what the server still sends until the connection ends, however it ends (closed or cut). */
    async drain() {
      for (;;) {
        const message = await stream!.next(20_000).catch(() => undefined);
        if (message === undefined) return;
        if (message.data !== undefined) received.push({ ...(JSON.parse(message.data) as FeedEvent), sseId: message.id! });
      }
    },
  };
}

/** A change through the running server's API: a product with stock (product.created, stock.adjusted). */
async function changeThroughApi(): Promise<void> {
  const res = await documentedFetch(`${base}/products`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: unique('Reconnect item'), price: 1, quantity: 2 }),
  });
  expect(res.status).toBe(201);
}

/** A change made in the database directly (as while no server runs): a product, then stock for it. */
async function changeInDatabase(): Promise<void> {
  const [row] = await db.sql<{ id: number }[]>`
    INSERT INTO products (sku, name, price, quantity, category_id)
    VALUES (${unique('RECONNECT').replace(' ', '-')}, ${unique('Reconnect item')}, 1, 0, ${category}) RETURNING id`;
  await db.sql`SELECT stock_adjust(${row!.id}::bigint, 1, 3, 'received')`;
}

/** The feed's end once every event written so far is published (by the running server's publisher). */
async function publishedEnd(): Promise<number> {
  await waitUntil(
    'every event published',
    async () => (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM events WHERE position IS NULL`)[0]!.n === 0,
  );
  return (await db.sql<{ n: number }[]>`SELECT last_position AS n FROM event_publisher`)[0]!.n;
}

/** How many events of the feed lie after `position`, published or not yet. */
async function eventsAfter(position: number): Promise<number> {
  const [row] = await db.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM events WHERE position > ${position} OR position IS NULL`;
  return row!.n;
}

test('after the server stopped (SIGTERM) and after it died (SIGKILL), Last-Event-ID resumes with every event written meanwhile: none missing, none twice, in order', async () => {
  const c = client();
  await startServer();
  await c.connect();
  for (let i = 0; i < 3; i++) await changeThroughApi();
  await c.readTo(await publishedEnd());

  // The service writes on and stops while the client reads: it gets what was sent before the stream ended.
  for (let i = 0; i < 3; i++) await changeThroughApi();
  await stopServer('SIGTERM');
  await c.drain();

  // Nobody connected: changes are written, some published meanwhile, some left for the next process.
  for (let i = 0; i < 3; i++) await changeInDatabase();
  await publishAll(db.sql);
  for (let i = 0; i < 2; i++) await changeInDatabase();
  const missedAtFirstDrop = await eventsAfter(Number(c.lastId()));
  expect(missedAtFirstDrop).toBeGreaterThanOrEqual(5 * 2);

  await startServer();
  await c.connect();
  for (let i = 0; i < 2; i++) await changeThroughApi();
  await c.readTo(await publishedEnd());

  // The process dies: the connection is cut without an end.
  await stopServer('SIGKILL');
  await c.drain();
  for (let i = 0; i < 3; i++) await changeInDatabase();
  await publishAll(db.sql);
  for (let i = 0; i < 2; i++) await changeInDatabase();
  expect(await eventsAfter(Number(c.lastId()))).toBeGreaterThanOrEqual(5 * 2);

  await startServer();
  await c.connect();
  await changeThroughApi();
  const end = await publishedEnd();
  await c.readTo(end);
  await stopServer('SIGTERM');

  // Every event of the feed once, in position order, each message's id its position.
  const feed = await db.sql<{ id: number; position: number }[]>`SELECT id, position FROM events ORDER BY position`;
  expect(feed.map((e) => e.position)).toEqual(Array.from({ length: end }, (_, i) => i + 1));
  expect(c.received.map((e) => e.position)).toEqual(feed.map((e) => e.position));
  expect(c.received.map((e) => e.id)).toEqual(feed.map((e) => e.id));
  for (const e of c.received) expect(e.sseId).toBe(String(e.position));
}, 90_000);
