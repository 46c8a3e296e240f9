/**
 * GET /events/stream: Server-Sent Events that follow the feed. It resumes after
 * Last-Event-ID without a gap or a repeat; a publisher's NOTIFY wakes it (also
 * after its LISTEN connection was lost); without a notification it still
 * polls; it is bounded per process (503 beyond), holds no pool slot while it
 * waits, ends when the client leaves or the service stops.
 */
import { afterAll, beforeAll, describe, expect, test as bunTest } from 'bun:test';
import { createApp, type App } from '../../src/app.ts';
import type { Config } from '../../src/config.ts';
import { createEventStreams, type StreamSink } from '../../src/events/streams.ts';
import { createLogger } from '../../src/logger.ts';
import { listen } from '../support/app.ts';
import { checkedApp } from '../support/contract.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { expectProblem } from '../support/problem.ts';
import { unique } from '../support/values.ts';
import { publishAll, sseReader, waitUntil } from './support.ts';

/** These tests wait on other processes and connections: longer than the default 5 s on a loaded machine. */
const test = (name: string, fn: () => Promise<void>, timeout = 30_000) => bunTest(name, fn, timeout);

let db: TestDatabase;
let category: number;
beforeAll(async () => {
  db = await createTestDatabase({ poolMax: 4 });
  const [row] = await db.sql<{ id: number }[]>`INSERT INTO categories (name) VALUES ('Streams') RETURNING id`;
  category = row!.id;
});
afterAll(async () => {
  await db?.drop();
});

/** Long enough that only a notification can wake a stream within a test's waits. */
const NO_POLL = 60_000;
/**
 * How long a test waits for what only a notification delivers: less than the heartbeat (15 s), after which a
 * quiet stream reads again anyway.
 */
const NOTIFIED = 8000;
const apps: App[] = [];
const appWith = (config: Partial<Config>): App => {
  const app = checkedApp(createApp({ sql: db.sql, config, logger: createLogger('silent') }));
  apps.push(app);
  return app;
};
afterAll(async () => {
  await Promise.all(apps.map((app) => app.eventStreams.close()));
});

/** A change that writes events: a product with stock (category, product, its stock). */
async function change(): Promise<number> {
  const [row] = await db.sql<{ id: number }[]>`
    INSERT INTO products (sku, name, price, quantity, category_id)
    VALUES (${unique('STREAM').replace(' ', '-')}, ${unique('Stream item')}, 1, 0, ${category}) RETURNING id`;
  await db.sql`SELECT stock_adjust(${row!.id}::bigint, 1, 3, 'received')`;
  return row!.id;
}

async function positions(after = 0): Promise<number[]> {
  const rows = await db.sql<{ position: number }[]>`SELECT position FROM events WHERE position > ${after} ORDER BY position`;
  return rows.map((r) => r.position);
}

async function feedEnd(): Promise<number> {
  return (await db.sql<{ n: number }[]>`SELECT last_position AS n FROM event_publisher`)[0]!.n;
}

const open = (app: App, path = '/events/stream', headers: Record<string, string> = {}) => app.request(path, { headers });

describe('messages and resuming', () => {
  test('each event is one message: id its position, event its type, data the event as GET /events shows it', async () => {
    const app = appWith({ eventsStreamPollMs: NO_POLL });
    await change();
    await publishAll(db.sql);
    const res = await open(app, '/events/stream?after=0');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toStartWith('text/event-stream');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const stream = sseReader(res);
    expect(await stream.next()).toEqual({ retry: '1000' });
    const all = await positions();
    const received = await stream.events(all.length);
    const page = (await (await app.request(`/events?limit=1000`)).json()) as unknown[];
    expect(received.map(({ sseId: _, sseEvent: __, ...event }) => event)).toEqual(page as never);
    for (const e of received) expect([e.sseId, e.sseEvent]).toEqual([String(e.position), e.type]);
    await stream.cancel();
  });

  test('Last-Event-ID resumes after that position, before `after`: every event once, no gap, no repeat', async () => {
    const app = appWith({ eventsStreamPollMs: NO_POLL });
    for (let i = 0; i < 3; i++) await change();
    await publishAll(db.sql);
    const all = await positions();
    const got: number[] = [];
    let lastId: string | undefined;
    // Several connections, each cut after a few events; each resumes from the last id received.
    while (got.length < all.length) {
      const headers: Record<string, string> = lastId === undefined ? {} : { 'last-event-id': lastId };
      const stream = sseReader(await open(app, '/events/stream?after=0', headers));
      const events = await stream.events(Math.min(4, all.length - got.length));
      await stream.cancel();
      got.push(...events.map((e) => e.position));
      lastId = events.at(-1)!.sseId;
    }
    expect(got).toEqual(all);
    // Resuming at the end: only what comes next.
    const tail = sseReader(await open(app, '/events/stream?after=0', { 'last-event-id': lastId! }));
    await change();
    await publishAll(db.sql);
    expect((await tail.events(1))[0]!.position).toBe(all.at(-1)! + 1);
    await tail.cancel();
  });

  test('without Last-Event-ID or `after`, only new events', async () => {
    const app = appWith({ eventsStreamPollMs: NO_POLL });
    await change();
    await publishAll(db.sql);
    const end = await feedEnd();
    const stream = sseReader(await open(app));
    await stream.next(); // retry
    await change();
    await publishAll(db.sql);
    const [first] = await stream.events(1);
    expect(first!.position).toBe(end + 1);
    await stream.cancel();
  });

  test('type and product filter the stream as they do the feed', async () => {
    const app = appWith({ eventsStreamPollMs: NO_POLL });
    const end = await feedEnd();
    const product = await change();
    await change();
    await publishAll(db.sql);
    const stream = sseReader(await open(app, `/events/stream?after=${end}&type=stock.adjusted&product=${product}`));
    const [only] = await stream.events(1);
    expect(only).toMatchObject({ type: 'stock.adjusted', product_id: product });
    // Nothing else of that product and type follows until there is another one.
    await db.sql`SELECT stock_adjust(${product}::bigint, 1, -1, 'sold')`;
    await change();
    await publishAll(db.sql);
    const [next] = await stream.events(1);
    expect(next).toMatchObject({ type: 'stock.adjusted', product_id: product, data: expect.objectContaining({ delta: -1 }) });
    await stream.cancel();
  });

  test('bad input is refused before the stream starts: 422, and no stream stays open', async () => {
    const app = appWith({});
    for (const [path, headers, field] of [
      ['/events/stream?type=stock.nope', {}, 'type'],
      ['/events/stream?after=-1', {}, 'after'],
      ['/events/stream', { 'last-event-id': 'abc' }, 'last-event-id'],
      ['/events/stream?product=0', {}, 'product'],
    ] as const) {
      const body = await expectProblem(await open(app, path, headers), 422, 'validation_failed');
      expect(body.errors[0].path).toBe(field);
    }
    expect(app.eventStreams.count()).toBe(0);
  });

  test('HEAD answers the head of a stream and opens none', async () => {
    const app = appWith({});
    const res = await app.request('/events/stream', { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toStartWith('text/event-stream');
    expect(app.eventStreams.count()).toBe(0);
  });
});

describe('waking', () => {
  test("a publisher's NOTIFY wakes a waiting stream at once (no poll within the wait)", async () => {
    const app = appWith({ eventsStreamPollMs: NO_POLL });
    const stream = sseReader(await open(app));
    await stream.next(); // retry
    for (let i = 0; i < 3; i++) {
      const end = await feedEnd();
      await change();
      await publishAll(db.sql);
      const [event] = await stream.events(1, NOTIFIED);
      expect(event!.position).toBe(end + 1);
      await stream.events((await positions(end)).length - 1, NOTIFIED);
    }
    await stream.cancel();
  });

  test('after its LISTEN connection is lost, the next NOTIFY still wakes streams (postgres.js listens again)', async () => {
    const app = appWith({ eventsStreamPollMs: NO_POLL });
    const stream = sseReader(await open(app));
    await stream.next(); // retry
    const before = await feedEnd();
    await change();
    await publishAll(db.sql);
    await stream.events((await positions(before)).length, NOTIFIED);
    const listeners = async () =>
      (
        await db.admin<{ pid: number }[]>`
          SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'listen%'`
      ).map((r) => r.pid);
    await waitUntil('a LISTEN connection', async () => (await listeners()).length === 1);
    const [old] = await listeners();
    await db.admin`SELECT pg_terminate_backend(${old!})`;
    await waitUntil('LISTEN again on a new connection', async () => {
      const pids = await listeners();
      return pids.length === 1 && pids[0] !== old;
    });
    const end = await feedEnd();
    await change();
    await publishAll(db.sql);
    const [event] = await stream.events(1, NOTIFIED);
    expect(event!.position).toBe(end + 1);
    await stream.cancel();
  });

  test('without LISTEN (EVENTS_LISTEN=false), a stream polls: events arrive all the same', async () => {
    const app = appWith({ eventsListen: false, eventsStreamPollMs: 50 });
    const stream = sseReader(await open(app));
    await stream.next();
    const end = await feedEnd();
    await change();
    await publishAll(db.sql);
    const [event] = await stream.events(1);
    expect(event!.position).toBe(end + 1);
    await stream.cancel();
  });

  test('a notification lost (positions given without NOTIFY): the poll delivers', async () => {
    const app = appWith({ eventsStreamPollMs: 100 });
    const stream = sseReader(await open(app));
    await stream.next();
    const end = await feedEnd();
    await change();
    // What events_publish does, less its pg_notify.
    await db.admin.begin(async (tx) => {
      const [publisher] = await tx<{ previous: number }[]>`
        SELECT last_position AS previous FROM event_publisher FOR UPDATE`;
      const previous = publisher!.previous;
      const [updated] = await tx<{ n: number }[]>`
        WITH pending AS (
          SELECT id, ${previous}::bigint + row_number() OVER (ORDER BY id) AS position FROM events WHERE position IS NULL
        ), updated AS (UPDATE events e SET position = pending.position FROM pending WHERE e.id = pending.id RETURNING 1)
        SELECT count(*)::int AS n FROM updated`;
      const n = updated!.n;
      await tx`UPDATE event_publisher SET last_position = ${previous + n}`;
    });
    const [event] = await stream.events(1);
    expect(event!.position).toBe(end + 1);
    await stream.cancel();
  });
});

describe('bounds', () => {
  test('at most EVENTS_STREAM_MAX streams: one more is 503 too_many_streams with Retry-After; a closed one frees its slot', async () => {
    const app = appWith({ eventsStreamMax: 2, eventsStreamPollMs: NO_POLL });
    const first = sseReader(await open(app));
    const second = sseReader(await open(app));
    expect(app.eventStreams.count()).toBe(2);
    const refused = await open(app);
    expect(refused.headers.get('retry-after')).toBe('1');
    await expectProblem(refused, 503, 'too_many_streams');
    await first.cancel();
    await waitUntil('the slot back', () => app.eventStreams.count() === 1);
    const third = sseReader(await open(app));
    expect(await third.next()).toEqual({ retry: '1000' });
    await Promise.all([second.cancel(), third.cancel()]);
    await waitUntil('every slot back', () => app.eventStreams.count() === 0);
  });

  test('a client that leaves (over a real socket) ends its stream and frees its slot', async () => {
    const app = appWith({ eventsStreamPollMs: NO_POLL });
    const server = listen(app);
    try {
      const controllers = Array.from({ length: 3 }, () => new AbortController());
      const streams = await Promise.all(
        controllers.map(async (c) => sseReader(await server.fetch('/events/stream', { signal: c.signal }))),
      );
      for (const s of streams) await s.next();
      expect(app.eventStreams.count()).toBe(3);
      for (const c of controllers) c.abort();
      await waitUntil('the streams to end', () => app.eventStreams.count() === 0);
    } finally {
      server.stop();
    }
  });

  test("over a real socket, a stream quiet for longer than Bun's idle timeout (10 s) stays open", async () => {
    const app = appWith({ eventsStreamPollMs: NO_POLL });
    const server = listen(app);
    try {
      const stream = sseReader(await server.fetch('/events/stream'));
      await stream.next();
      // Nothing is sent for 11 s (the heartbeat comes at 15 s): Bun.serve would have cut the response at 10 s.
      await Bun.sleep(11_000);
      const end = await feedEnd();
      await change();
      await publishAll(db.sql);
      const [event] = await stream.events(1, NOTIFIED);
      expect(event!.position).toBe(end + 1);
      await stream.cancel();
    } finally {
      server.stop();
    }
  });

  test('an open stream holds no connection slot while it waits: with one slot, requests still get it', async () => {
    const app = appWith({ poolMax: 1, poolWaitMs: 500, eventsStreamPollMs: NO_POLL });
    const stream = sseReader(await open(app));
    await stream.next();
    // Its first read done, it waits (for a notification that does not come) without a slot.
    await waitUntil('the first read done', () => app.poolStats().inUse === 0);
    for (let i = 0; i < 5; i++) expect((await app.request('/products?limit=1')).status).toBe(200);
    const second = sseReader(await open(app));
    await second.next();
    expect(app.eventStreams.count()).toBe(2);
    await Promise.all([stream.cancel(), second.cancel()]);
  });

  test('closing (shutdown) ends every stream promptly, a stalled reader too, and refuses new ones', async () => {
    const app = appWith({ eventsStreamPollMs: NO_POLL });
    const reading = sseReader(await open(app));
    await reading.next();
    // A client that reads nothing: its stream is stuck writing.
    await change();
    await publishAll(db.sql);
    const stalled = await open(app, '/events/stream?after=0');
    expect(app.eventStreams.count()).toBe(2);
    await app.eventStreams.close();
    expect(app.eventStreams.count()).toBe(0);
    expect(await reading.ended()).toBe(true);
    await stalled.body?.cancel();
    await expectProblem(await open(app), 503, 'too_many_streams');
  });
});

describe('heartbeat', () => {
  test('a caught-up stream sends a comment when nothing else was sent for the heartbeat interval', async () => {
    const streams = createEventStreams(db.sql, createLogger('silent'), {
      max: 1,
      pollMs: NO_POLL,
      listen: false,
      gate: (fn) => fn(),
      heartbeatMs: 50,
    });
    const comments: string[] = [];
    const sink: StreamSink = { event: async () => {}, comment: async (text) => void comments.push(text), abort: () => {} };
    const slot = streams.open()!;
    const following = slot.follow({ after: await feedEnd() }, sink);
    await waitUntil('two heartbeats', () => comments.length >= 2);
    expect(comments.slice(0, 2)).toEqual(['keep-alive', 'keep-alive']);
    await streams.close();
    await following;
  });
});
