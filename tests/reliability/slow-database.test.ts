import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { createApp } from '../../src/app.ts';
import { checkedApp, documentedFetch } from '../support/contract.ts';
import { createPool, type Pool } from '../../src/db.ts';
import { createLogger } from '../../src/logger.ts';
import { listen } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// A database that stops answering (a lock held elsewhere) must cost a client a
// bounded wait and a 503 it can retry, never a hung request or a crashed process.

let db: TestDatabase;
/** A connection outside the app's pool, to hold locks the app then runs into. */
let other: postgres.Sql;
let productId: number;
const opened: { sql: Pool; stop: () => void }[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  other = postgres(db.url, { max: 2, onnotice: () => {} });
  const [category] = await other`INSERT INTO categories (name) VALUES ('Locks') RETURNING id`;
  const [product] = await other`
    INSERT INTO products (sku, name, price, quantity, category_id)
    VALUES ('LOCKED-1', 'Locked product', 5, 0, ${category!.id}) RETURNING id`;
  productId = product!.id as number;
});

afterAll(async () => {
  for (const { sql, stop } of opened) {
    stop();
    await sql.end({ timeout: 5 });
  }
  await other?.end({ timeout: 5 });
  await db?.drop();
});

/** The service's app on its own pool, served on 127.0.0.1. */
function serve(settings: { poolMax: number; statementTimeoutMs: number; poolWaitMs?: number; poolPipelineDepth?: number }) {
  const name = `reliability-slow-${opened.length + 1}`;
  const sql = createPool({ databaseUrl: db.url, ...settings }, name);
  const app = checkedApp(createApp({ sql, config: settings, logger: createLogger('silent') }));
  const server = listen(app);
  opened.push({ sql, stop: server.stop });
  return { app, base: server.base, name };
}

/** Holds a row lock on the product from another session until the returned function is called. */
async function lockProductRow(): Promise<() => Promise<void>> {
  const session = await other.reserve();
  await session`BEGIN`;
  await session`SELECT id FROM products WHERE id = ${productId} FOR UPDATE`;
  return async () => {
    await session`ROLLBACK`;
    session.release();
  };
}

/** Holds an ACCESS EXCLUSIVE lock on products from another session (reads wait on it too) until the returned function is called. */
async function lockProducts(): Promise<() => Promise<void>> {
  const session = await other.reserve();
  await session`BEGIN`;
  await session`LOCK TABLE products IN ACCESS EXCLUSIVE MODE`;
  return async () => {
    await session`ROLLBACK`;
    session.release();
  };
}

/** Sessions the pool of the app served as `name` opened on this test database. */
async function appSessions(name: string): Promise<number> {
  const [row] = await other`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = ${name}`;
  return row!.n as number;
}

/** Sessions of this test database waiting for a lock. */
async function lockWaiters(): Promise<number> {
  const [row] = await other`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock'`;
  return row!.n as number;
}

async function waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await Bun.sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

type Timed = { status: number; ms: number; code?: string; contentType: string | null; retryAfter: string | null };

/** Sends a request and notes how it ended and how long it took. */
async function timed(url: string, init?: RequestInit): Promise<Timed> {
  const started = performance.now();
  const res = await documentedFetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const ms = performance.now() - started;
  const code = res.headers.get('content-type')?.startsWith('application/problem+json') ? JSON.parse(text).code : undefined;
  return {
    status: res.status,
    ms,
    code,
    contentType: res.headers.get('content-type'),
    retryAfter: res.headers.get('retry-after'),
  };
}

const patch = (base: string, body: unknown) =>
  timed(`${base}/products/${productId}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('slow database: statement timeout', () => {
  test('a PATCH stuck behind a row lock answers 503 database_unavailable after the timeout, then succeeds once the lock is gone', async () => {
    const { base } = serve({ poolMax: 10, statementTimeoutMs: 500 });
    const unlock = await lockProductRow();
    let stuck: Timed;
    try {
      stuck = await patch(base, { description: 'while locked' });
    } finally {
      await unlock();
    }
    expect(stuck).toMatchObject({ status: 503, code: 'database_unavailable', contentType: 'application/problem+json' });
    expect(stuck.retryAfter).toBe('1');
    // The server cancelled it after 500 ms; the client did not hang.
    expect(stuck.ms).toBeGreaterThanOrEqual(450);
    expect(stuck.ms).toBeLessThan(2000);

    const [before] = await other`SELECT description FROM products WHERE id = ${productId}`;
    expect(before!.description).toBeNull();

    const again = await patch(base, { description: 'after the lock' });
    expect(again.status).toBe(200);
    const [after] = await other`SELECT description FROM products WHERE id = ${productId}`;
    expect(after!.description).toBe('after the lock');
  }, 15_000);
});

describe('slow database: pool exhaustion', () => {
  test('with both connections stuck, further requests get 503 with Retry-After after the pool wait, and service resumes after the lock', async () => {
    const { app, base } = serve({ poolMax: 2, poolWaitMs: 300, statementTimeoutMs: 3000 });
    const unlock = await lockProductRow();
    let stuckPatches: Promise<Timed>[] = [];
    let refused: Timed[];
    try {
      stuckPatches = [patch(base, { price: 6 }), patch(base, { price: 7 })];
      await waitUntil('both pooled connections to wait on the row lock', async () => (await lockWaiters()) === 2);
      expect(app.poolStats()).toMatchObject({ inUse: 2, size: 2 });

      refused = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 ? timed(`${base}/products/${productId}`) : timed(`${base}/products?limit=5`))),
      );
    } finally {
      await unlock();
    }
    for (const r of refused) {
      expect(r).toMatchObject({
        status: 503,
        code: 'database_unavailable',
        contentType: 'application/problem+json',
        retryAfter: '1',
      });
      // Refused after the 300 ms pool wait, not after the 3 s statement timeout.
      expect(r.ms).toBeGreaterThanOrEqual(250);
      expect(r.ms).toBeLessThan(1500);
    }

    // The stuck requests finish once the lock is released (within their 3 s statement timeout).
    expect((await Promise.all(stuckPatches)).map((r) => r.status)).toEqual([200, 200]);
    expect(app.poolStats()).toEqual({ inUse: 0, waiting: 0, size: 2 });

    // The process is still serving, and requests succeed again.
    expect((await timed(`${base}/healthz`)).status).toBe(200);
    const later = await Promise.all(Array.from({ length: 6 }, () => timed(`${base}/products/${productId}`)));
    expect(later.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
  }, 15_000);
});

describe('slow database: reads pipelined on busy connections', () => {
  test('reads share the two connections, four each; a fifth read, and a write, get 503 after the pool wait; all answer once the lock goes', async () => {
    const { app, base, name } = serve({ poolMax: 2, poolWaitMs: 300, statementTimeoutMs: 5000, poolPipelineDepth: 4 });
    const unlock = await lockProducts();
    let stuckReads: Promise<Timed>[] = [];
    let refused: Timed[];
    try {
      stuckReads = Array.from({ length: 8 }, () => timed(`${base}/products/${productId}`));
      await waitUntil('8 reads admitted', async () => app.poolStats().inUse === 8);
      await waitUntil('both pooled connections to wait on the lock', async () => (await lockWaiters()) === 2);
      // Eight reads in flight on the pool's two sessions: the others are pipelined behind them.
      expect(await appSessions(name)).toBe(2);
      expect(app.poolStats()).toEqual({ inUse: 8, waiting: 0, size: 2 });
      refused = await Promise.all([timed(`${base}/products/${productId}`), patch(base, { price: 9 })]);
    } finally {
      await unlock();
    }
    for (const r of refused) {
      expect(r).toMatchObject({ status: 503, code: 'database_unavailable', retryAfter: '1' });
      expect(r.ms).toBeGreaterThanOrEqual(250);
      expect(r.ms).toBeLessThan(1500);
    }
    expect((await Promise.all(stuckReads)).map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(app.poolStats()).toEqual({ inUse: 0, waiting: 0, size: 2 });
    const [row] = await other`SELECT price FROM products WHERE id = ${productId}`;
    expect(Number(row!.price)).not.toBe(9);
  }, 15_000);

  test('with DB_PIPELINE_DEPTH=1 a read takes a connection of its own: the third waits and gets 503', async () => {
    const { app, base } = serve({ poolMax: 2, poolWaitMs: 300, statementTimeoutMs: 5000, poolPipelineDepth: 1 });
    const unlock = await lockProducts();
    let stuckReads: Promise<Timed>[] = [];
    let third: Timed;
    try {
      stuckReads = [timed(`${base}/products/${productId}`), timed(`${base}/products/${productId}`)];
      await waitUntil('both pooled connections to wait on the lock', async () => (await lockWaiters()) === 2);
      expect(app.poolStats()).toEqual({ inUse: 2, waiting: 0, size: 2 });
      third = await timed(`${base}/products/${productId}`);
    } finally {
      await unlock();
    }
    expect(third).toMatchObject({ status: 503, code: 'database_unavailable' });
    expect((await Promise.all(stuckReads)).map((r) => r.status)).toEqual([200, 200]);
  }, 15_000);

  test('the inventory report, one transaction, takes a connection of its own even among reads', async () => {
    const { app, base } = serve({ poolMax: 2, poolWaitMs: 300, statementTimeoutMs: 5000, poolPipelineDepth: 4 });
    const unlock = await lockProducts();
    let stuck: Promise<Timed>[] = [];
    let refused: Timed;
    try {
      stuck = [timed(`${base}/reports/inventory`), timed(`${base}/reports/inventory`)];
      await waitUntil('both pooled connections to wait on the lock', async () => (await lockWaiters()) === 2);
      expect(app.poolStats()).toEqual({ inUse: 2, waiting: 0, size: 2 });
      // A read of one statement does not fit beside two transactions either.
      refused = await timed(`${base}/products/${productId}`);
    } finally {
      await unlock();
    }
    expect(refused).toMatchObject({ status: 503, code: 'database_unavailable' });
    expect((await Promise.all(stuck)).map((r) => r.status)).toEqual([200, 200]);
  }, 15_000);
});
