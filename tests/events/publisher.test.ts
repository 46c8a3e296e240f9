/**
 * The background jobs: the publisher numbers committed events by itself,
 * reservations past their expiry publish stock.expired without any request,
 * old published events are pruned in batches (never unpublished ones), and
 * BACKGROUND_JOBS=false runs nothing. As processes: an API process publishes
 * by itself, `bun run worker` publishes for API processes that do not, two
 * publishers never give a position twice, and SIGTERM stops a server that has
 * a stream open.
 */
import { afterAll, beforeAll, describe, expect, test as bunTest } from 'bun:test';
import { join } from 'node:path';
import { startBackground, type BackgroundDeps } from '../../src/background.ts';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { defaultConfig, type Config } from '../../src/config.ts';
import { createPool } from '../../src/db.ts';
import { PRUNE_BATCH } from '../../src/events/publisher.ts';
import { pruneEvents } from '../../src/events/queries.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import { HEADER_SIZE_FLAG } from '../../src/server.ts';
import { documentedFetch } from '../support/contract.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { unique } from '../support/values.ts';
import { sseReader, waitUntil } from './support.ts';

/** These tests wait on other processes and connections: longer than the default 5 s on a loaded machine. */
const test = (name: string, fn: () => Promise<void>, timeout = 30_000) => bunTest(name, fn, timeout);

const ROOT = join(import.meta.dir, '../..');

let db: TestDatabase;
let category: number;
beforeAll(async () => {
  db = await createTestDatabase();
  const [row] = await db.sql<{ id: number }[]>`INSERT INTO categories (name) VALUES ('Publisher') RETURNING id`;
  category = row!.id;
});
afterAll(async () => {
  await db?.drop();
});

/** A product with `quantity` at the default location; returns its id. */
async function product(quantity: number): Promise<number> {
  const [row] = await db.sql<{ id: number }[]>`
    INSERT INTO products (sku, name, price, quantity, category_id)
    VALUES (${unique('PUB').replace(' ', '-')}, ${unique('Published item')}, 1, 0, ${category}) RETURNING id`;
  if (quantity > 0) await db.sql`SELECT stock_adjust(${row!.id}::bigint, 1, ${quantity}::int, 'received')`;
  return row!.id;
}

const count = async (where: 'unpublished' | 'published') =>
  (
    await db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM events WHERE ${where === 'published' ? db.sql`position IS NOT NULL` : db.sql`position IS NULL`}`
  )[0]!.n;

/** Positions are 1..n, each once, and the publisher's last position is n. */
async function expectGapFree() {
  const [row] = await db.sql<{ n: number; distinct: number; min: number; max: number; last: number }[]>`
    SELECT count(*)::int AS n, count(DISTINCT position)::int AS distinct, min(position)::int AS min, max(position)::int AS max,
           (SELECT last_position FROM event_publisher)::int AS last
    FROM events WHERE position IS NOT NULL`;
  expect(row!.distinct).toBe(row!.n);
  expect(row!.max - row!.min + 1).toBe(row!.n);
  expect(row!.max).toBe(row!.last);
}

const silent = createLogger('silent');
/** The jobs on a pool of their own, as the server runs them. */
function background(config: Partial<Config> = {}, logger: Logger = silent) {
  const sql = createPool({ databaseUrl: db.url, poolMax: 2 }, 'inventory-background');
  const jobs = startBackground({ sql, config: defaultConfig(config), logger });
  return { stop: async () => (await jobs.stop(), await sql.end({ timeout: 5 })) };
}

describe('in the process', () => {
  test('the publisher numbers committed events by itself, in commit order, and a full batch is followed at once', async () => {
    await product(3);
    // More than a batch (10,000) waiting at once.
    await db.sql.begin(async (tx) => {
      await tx`SET LOCAL statement_timeout = 0`;
      await tx`INSERT INTO events (type, data) SELECT 'product.updated', '{}' FROM generate_series(1, 10500)`;
    });
    const jobs = background({ eventsPublishIntervalMs: 60_000 });
    try {
      // One tick (the next is a minute away): it goes on while its batches are full.
      await waitUntil('every event published', async () => (await count('unpublished')) === 0);
      await expectGapFree();
    } finally {
      await jobs.stop();
    }
  });

  test('a batch that the statement timeout cancels is halved until one passes: publishing goes on', async () => {
    // Numbering an event costs 1 ms here: a whole batch (10,000) takes 10 s, far over a statement timeout of 0.5 s.
    await db.admin`
      CREATE FUNCTION slow_publish() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.001); RETURN NEW; END $$`;
    await db.admin`CREATE TRIGGER slow_publish BEFORE UPDATE OF position ON events FOR EACH ROW EXECUTE FUNCTION slow_publish()`;
    const lines: string[] = [];
    const sql = createPool({ databaseUrl: db.url, poolMax: 2, statementTimeoutMs: 500 }, 'inventory-background');
    const jobs = startBackground({
      sql,
      config: defaultConfig({ eventsPublishIntervalMs: 10 }),
      logger: createLogger('info', (line) => lines.push(line), 'json'),
    });
    try {
      await db.sql`INSERT INTO events (type, data) SELECT 'product.updated', '{}' FROM generate_series(1, 800)`;
      await waitUntil('every event published', async () => (await count('unpublished')) === 0, 30_000);
      await expectGapFree();
      expect(lines.some((l) => l.includes('"code":"57014"'))).toBe(true);
    } finally {
      await jobs.stop();
      await sql.end({ timeout: 5 });
      await db.admin`DROP TRIGGER slow_publish ON events`;
      await db.admin`DROP FUNCTION slow_publish()`;
    }
  }, 60_000);

  test('a reservation past its expiry publishes stock.expired without any request', async () => {
    const id = await product(2);
    const [reservation] = await db.sql<{ id: number }[]>`
      SELECT id FROM stock_reserve(${id}::bigint, 1, 2, now() + interval '1 hour', 'cart-1')`;
    await db.admin`
      UPDATE reservations SET expires_at = now() - interval '1 second', created_at = now() - interval '1 minute'
      WHERE id = ${reservation!.id}`;
    const jobs = background();
    try {
      await waitUntil('stock.expired in the feed', async () => {
        const rows = await db.sql`
          SELECT 1 FROM events WHERE type = 'stock.expired' AND product_id = ${id} AND position IS NOT NULL`;
        return rows.length === 1;
      });
      const [row] = await db.sql<{ state: string }[]>`SELECT state FROM reservations WHERE id = ${reservation!.id}`;
      expect(row!.state).toBe('expired');
    } finally {
      await jobs.stop();
    }
  });

  /** Only these events: `old` published ones older than 30 days, 10 young ones, 5 old ones not published. */
  async function pruneFixture(old: number) {
    await db.sql.begin(async (tx) => {
      await tx`SET LOCAL statement_timeout = 0`;
      await tx`DELETE FROM events`;
      await tx`
        INSERT INTO events (type, data, occurred_at)
        SELECT 'product.updated', jsonb_build_object('old', true), now() - interval '31 days' FROM generate_series(1, ${old}::int)`;
      await tx`INSERT INTO events (type, data) SELECT 'product.updated', jsonb_build_object('young', true) FROM generate_series(1, 10)`;
      await tx`SELECT events_publish(100000)`;
      await tx`
        INSERT INTO events (type, data, occurred_at)
        SELECT 'product.updated', jsonb_build_object('unpublished', true), now() - interval '40 days' FROM generate_series(1, 5)`;
    });
  }
  const remaining = async (key: string) =>
    (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM events WHERE data ? ${key}`)[0]!.n;

  test('pruning deletes published events older than the retention, a batch at a time, oldest first, never younger or unpublished ones', async () => {
    const old = PRUNE_BATCH * 2 + 700;
    await pruneFixture(old);
    const calls: number[] = [];
    for (;;) {
      calls.push(await pruneEvents(db.sql, 30, PRUNE_BATCH));
      if (calls.at(-1) === 0) break;
    }
    expect(calls).toEqual([PRUNE_BATCH, PRUNE_BATCH, 700, 0]);
    expect(await remaining('old')).toBe(0);
    expect(await remaining('young')).toBe(10);
    expect(await remaining('unpublished')).toBe(5);
  });

  test('the pruning job deletes batch after batch until one is not full', async () => {
    await pruneFixture(PRUNE_BATCH * 2 + 700);
    await db.sql`DELETE FROM events WHERE position IS NULL`;
    // The job runs once at start, the next run an hour later: that one run must delete all three batches.
    const jobs = background({ eventRetentionDays: 30, eventsPruneIntervalS: 3600, eventsPublishIntervalMs: 60_000 });
    try {
      await waitUntil('the old events pruned', async () => (await remaining('old')) === 0);
    } finally {
      await jobs.stop();
    }
    expect(await remaining('young')).toBe(10);
  });

  test('BACKGROUND_JOBS=false starts no job; true starts each one with the deps, and stop() stops each once', async () => {
    const started: BackgroundDeps[] = [];
    let stops = 0;
    const job = (deps: BackgroundDeps) => {
      started.push(deps);
      return { stop: async () => void stops++ };
    };
    const deps = { sql: db.sql, logger: silent };
    const off = startBackground({ ...deps, config: defaultConfig({ backgroundJobs: false }) }, { first: job, second: job });
    await off.stop();
    expect(started).toEqual([]);
    const on = startBackground({ ...deps, config: defaultConfig({ backgroundJobs: true }) }, { first: job, second: job });
    expect(started).toHaveLength(2);
    expect(started[0]!.sql).toBe(db.sql);
    await Promise.all([on.stop(), on.stop()]);
    expect(stops).toBe(2);
  });

  test('a failing step is logged in one line and retried; it neither throws nor stops the loop', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', (line) => lines.push(line), 'json');
    const broken = createPool({ databaseUrl: 'postgres://nobody:x@127.0.0.1:1/none', poolMax: 1, connectTimeoutMs: 500 });
    const jobs = startBackground({ sql: broken, logger, config: defaultConfig({ eventsPublishIntervalMs: 10 }) });
    try {
      await waitUntil('a failure logged for each loop', () =>
        ['events_publish', 'reservations_expire', 'events_prune'].every((job) => lines.some((l) => l.includes(`"job":"${job}"`))),
      );
    } finally {
      await jobs.stop();
      await broken.end({ timeout: 1 });
    }
    const failures = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'background job failed');
    for (const line of failures) {
      expect(line).toMatchObject({ level: 'error', code: 'ECONNREFUSED' });
      expect(JSON.stringify(line)).not.toContain('SELECT');
    }
    // Logged when failing starts, not at every retry (events_publish retried every 10 ms).
    expect(failures.filter((l) => l.job === 'events_publish')).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------- processes

type Proc = Bun.Subprocess<'ignore', 'pipe', 'inherit'>;
const running: Proc[] = [];
afterAll(async () => {
  for (const proc of running) if (proc.exitCode === null) proc.kill('SIGKILL');
  await Promise.all(running.map((p) => p.exited));
});

function spawn(command: string[], env: Record<string, string>): Proc {
  const proc = Bun.spawn(command, {
    cwd: ROOT,
    env: { PATH: process.env.PATH, DATABASE_URL: db.url, LOG_LEVEL: 'warn', ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'inherit',
  });
  running.push(proc);
  return proc;
}

async function startServer(env: Record<string, string>): Promise<{ proc: Proc; base: string }> {
  const port = await freePort();
  const proc = spawn(['bun', HEADER_SIZE_FLAG, 'src/server.ts'], { PORT: String(port), ...env });
  const base = `http://127.0.0.1:${port}`;
  await waitUntil(
    'the server to answer',
    async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.status === 200,
    20_000,
  );
  return { proc, base };
}

/** Background connections open (each process's background pool is called inventory-background). */
const backgroundConnections = async () =>
  (
    await db.admin<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'inventory-background'`
  )[0]!.n;

/** Waits until a worker logs that it started (LOG_LEVEL=info), then keeps draining its output. */
async function saysStarted(proc: Proc): Promise<void> {
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes('"msg":"worker started"')) {
    const chunk = await reader.read();
    if (chunk.done) throw new Error(`the worker ended: ${text}`);
    text += decoder.decode(chunk.value);
  }
  void (async () => {
    while (!(await reader.read()).done) {}
  })();
}

describe('as processes', () => {
  test('an API process publishes by itself; SIGTERM stops it promptly with a stream open', async () => {
    const { proc, base } = await startServer({});
    const res = await documentedFetch(`${base}/events/stream`);
    const stream = sseReader(res);
    await stream.next(); // retry
    const created = await documentedFetch(`${base}/products`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: unique('Process item'), price: 1, quantity: 2 }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: number };
    // Published by the process, and streamed.
    const events = await stream.events(1);
    expect(events[0]!.type).toMatch(/^(category|product)\.created$/);
    await waitUntil('its events published', async () => (await count('unpublished')) === 0);
    expect(
      (await db.sql`SELECT 1 FROM events WHERE product_id = ${id} AND type = 'product.created' AND position IS NOT NULL`).length,
    ).toBe(1);
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(await stream.ended()).toBe(true);
  }, 60_000);

  test('with BACKGROUND_JOBS=false the API publishes nothing; `bun run worker` publishes for it and stops on SIGTERM', async () => {
    const { proc: api, base } = await startServer({ BACKGROUND_JOBS: 'false' });
    const before = (await db.sql<{ n: number }[]>`SELECT last_position AS n FROM event_publisher`)[0]!.n;
    const created = await documentedFetch(`${base}/products`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: unique('Worker item'), price: 1, quantity: 2 }),
    });
    expect(created.status).toBe(201);
    // No background pool in the API process (one would keep its connections open): its events wait.
    await waitUntil('no background connection', async () => (await backgroundConnections()) === 0);
    expect(await count('unpublished')).toBeGreaterThan(0);
    const feed = async () => (await (await documentedFetch(`${base}/events?after=${before}`)).json()) as unknown[];
    expect(await feed()).toEqual([]);

    const worker = spawn(['bun', 'run', 'worker'], { BACKGROUND_JOBS: 'false', EVENTS_PUBLISH_INTERVAL_MS: '20' });
    await waitUntil('the worker to publish them', async () => (await count('unpublished')) === 0, 20_000);
    expect((await feed()).length).toBeGreaterThan(0);
    await expectGapFree();
    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    api.kill('SIGTERM');
    expect(await api.exited).toBe(0);
  }, 60_000);

  test('two publishers (two worker processes) never give one position twice: positions stay gap-free', async () => {
    const env = { EVENTS_PUBLISH_INTERVAL_MS: '10', LOG_LEVEL: 'info' };
    const workers = [spawn(['bun', 'src/worker.ts'], env), spawn(['bun', 'src/worker.ts'], env)];
    // Both run while the writes happen.
    await Promise.all(workers.map((w) => saysStarted(w)));
    const products = await Promise.all(Array.from({ length: 8 }, () => product(0)));
    // Concurrent writers, while both publish.
    await Promise.all(
      products.map(async (id) => {
        for (let i = 0; i < 25; i++) await db.sql`SELECT stock_adjust(${id}::bigint, 1, 1, 'received')`;
      }),
    );
    await waitUntil('everything published', async () => (await count('unpublished')) === 0, 20_000);
    await expectGapFree();
    for (const w of workers) w.kill('SIGTERM');
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
  }, 60_000);
});
