import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { createApp } from '../../src/app.ts';
import { checkedApp, documentedFetch } from '../support/contract.ts';
import { createPool } from '../../src/db.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestApp, listen, type TestApp } from '../support/app.ts';
import { expectProblem } from '../support/problem.ts';
import { json, nextNumber, unique } from '../support/values.ts';

let t: TestApp;
beforeAll(async () => { t = await createTestApp({ poolMax: 20 }); });
afterAll(async () => { await t?.close(); });

const newKey = () => `key-${nextNumber()}-${crypto.randomUUID()}`;

/** How the service fingerprints a request body: sha256 of the raw bytes, base64url. */
const bodyHash = (raw: string) => createHash('sha256').update(raw).digest('base64url');

async function createProduct(quantity: number): Promise<number> {
  const res = await t.post('/products', { name: unique('Keyed'), price: 4, quantity, category: 'Keyed' });
  expect(res.status).toBe(201);
  return (await json(res)).id;
}

/** POSTs an exact raw body, so the test knows the bytes the service hashes. */
const postRaw = (path: string, raw: string, key?: string, send = t.request) =>
  send(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }) },
    body: raw,
  });

async function stockOf(id: number) {
  const [row] = await t.db.sql<{ quantity: number; movements: number }[]>`
    SELECT p.quantity, (SELECT count(*)::int FROM stock_movements m WHERE m.product_id = p.id) AS movements
    FROM products p WHERE p.id = ${id}`;
  return row!;
}

async function keyRow(path: string, key: string) {
  const [row] = await t.db.sql`
    SELECT request_hash, status, response_body, created_at, expires_at
    FROM idempotency_keys WHERE method = 'POST' AND path = ${path} AND key = ${key}`;
  return row;
}

/** Waits, bounded, until `condition` holds. */
async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('Idempotency-Key: replay', () => {
  test('a repeat with the same key and body replays the first answer and adjusts stock once', async () => {
    const id = await createProduct(10);
    const path = `/products/${id}/stock-adjustments`;
    const raw = JSON.stringify({ delta: -3, reason: 'sold', note: 'order 1' });
    const key = newKey();

    const first = await postRaw(path, raw, key);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const firstBody = await first.text();

    const again = await postRaw(path, raw, key);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(await again.text()).toBe(firstBody);

    expect(await stockOf(id)).toEqual({ quantity: 7, movements: 2 });
  });

  test('POST /products replays the same product, with its Location and ETag, and stores one row', async () => {
    const name = unique('Keyed product');
    const raw = JSON.stringify({ name, price: 12.5, quantity: 3, category: 'Keyed' });
    const key = newKey();
    const first = await postRaw('/products', raw, key);
    expect(first.status).toBe(201);
    const created = await json(first);

    const again = await postRaw('/products', raw, key);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('location')).toBe(`/products/${created.id}`);
    expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(await json(again)).toEqual(created);

    const rows = await t.db.sql`SELECT id FROM products WHERE name = ${name}`;
    expect([...rows]).toEqual([{ id: created.id }]);
    expect(await stockOf(created.id)).toEqual({ quantity: 3, movements: 1 });
  });

  test('POST /categories replays the same category and stores one row', async () => {
    const name = unique('Keyed category');
    const raw = JSON.stringify({ name, description: 'replayed' });
    const key = newKey();
    const first = await postRaw('/categories', raw, key);
    expect(first.status).toBe(201);
    const created = await json(first);
    const again = await postRaw('/categories', raw, key);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await json(again)).toEqual(created);
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM categories WHERE name = ${name}`;
    expect(row!.n).toBe(1);
  });

  test('POST /products/{id}/restore replays its answer without restoring again', async () => {
    const id = await createProduct(1);
    expect((await t.request(`/products/${id}`, { method: 'DELETE' })).status).toBe(204);
    const key = newKey();
    const first = await postRaw(`/products/${id}/restore`, '', key);
    expect(first.status).toBe(200);
    const restored = await first.text();

    // Archived again: a repeat that ran again would bring it back.
    expect((await t.request(`/products/${id}`, { method: 'DELETE' })).status).toBe(204);
    const again = await postRaw(`/products/${id}/restore`, '', key);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.text()).toBe(restored);
    expect((await t.request(`/products/${id}`)).status).toBe(404);
  });

  test('stores the key in PostgreSQL for 24 hours', async () => {
    const id = await createProduct(1);
    const key = newKey();
    expect((await postRaw(`/products/${id}/stock-adjustments`, '{"delta":1,"reason":"received"}', key)).status).toBe(201);
    const [row] = await t.db.sql`
      SELECT status, request_hash, expires_at - created_at = interval '24 hours' AS one_day
      FROM idempotency_keys WHERE key = ${key}`;
    expect(row).toEqual({ status: 201, request_hash: bodyHash('{"delta":1,"reason":"received"}'), one_day: true });
  });

  test('another app instance on the same database replays the stored answer', async () => {
    const id = await createProduct(5);
    const path = `/products/${id}/stock-adjustments`;
    const raw = JSON.stringify({ delta: -1, reason: 'sold' });
    const key = newKey();
    const first = await postRaw(path, raw, key);
    expect(first.status).toBe(201);
    const firstBody = await first.text();

    const samePool = checkedApp(createApp({ sql: t.db.sql, logger: createLogger('silent') }));
    const viaSamePool = await samePool.request(path, {
      method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: raw,
    });
    expect(viaSamePool.headers.get('idempotent-replayed')).toBe('true');
    expect(await viaSamePool.text()).toBe(firstBody);

    const pool = createPool({ databaseUrl: t.db.url, poolMax: 2 }, 'inventory-test-second');
    try {
      const second = checkedApp(createApp({ sql: pool, logger: createLogger('silent') }));
      const viaNewPool = await second.request(path, {
        method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: raw,
      });
      expect(viaNewPool.status).toBe(201);
      expect(viaNewPool.headers.get('idempotent-replayed')).toBe('true');
      expect(await viaNewPool.text()).toBe(firstBody);
    } finally {
      await pool.end({ timeout: 5 });
    }
    expect(await stockOf(id)).toEqual({ quantity: 4, movements: 2 });
  });
});

describe('Idempotency-Key: conflicts', () => {
  test('the same key with a different body is refused with 422 idempotency_key_reused and writes nothing', async () => {
    const id = await createProduct(10);
    const path = `/products/${id}/stock-adjustments`;
    const key = newKey();
    expect((await postRaw(path, JSON.stringify({ delta: -1, reason: 'sold' }), key)).status).toBe(201);
    const stored = await keyRow(path, key);

    await expectProblem(await postRaw(path, JSON.stringify({ delta: -2, reason: 'sold' }), key), 422, 'idempotency_key_reused');
    expect(await stockOf(id)).toEqual({ quantity: 9, movements: 2 });
    expect(await keyRow(path, key)).toEqual(stored!);
  });

  test('keys are scoped to method and path: one key on two products adjusts both', async () => {
    const a = await createProduct(5);
    const b = await createProduct(5);
    const key = newKey();
    const raw = JSON.stringify({ delta: -2, reason: 'sold' });
    const resA = await postRaw(`/products/${a}/stock-adjustments`, raw, key);
    const resB = await postRaw(`/products/${b}/stock-adjustments`, raw, key);
    expect([resA.status, resB.status]).toEqual([201, 201]);
    expect(resB.headers.get('idempotent-replayed')).toBeNull();
    expect(await stockOf(a)).toEqual({ quantity: 3, movements: 2 });
    expect(await stockOf(b)).toEqual({ quantity: 3, movements: 2 });
  });

  test('keys are scoped to path: one key on POST /products and POST /categories runs both', async () => {
    const key = newKey();
    const name = unique('Scoped');
    expect((await t.post('/products', { name, price: 1 }, { 'idempotency-key': key })).status).toBe(201);
    expect((await t.post('/categories', { name }, { 'idempotency-key': key })).status).toBe(201);
  });

  test('a repeat while the first is still running gets 409 request_in_progress and writes nothing', async () => {
    const id = await createProduct(10);
    const path = `/products/${id}/stock-adjustments`;
    const raw = JSON.stringify({ delta: -1, reason: 'sold' });
    const key = newKey();
    // A request running with this key holds the key's advisory lock for its transaction.
    // (The client is '' here: the app runs without API keys.)
    const lockId = createHash('sha256').update(`\0POST\0${path}\0${key}`).digest().readBigInt64BE(0);
    const holder = await t.db.sql.reserve();
    try {
      await holder`SELECT pg_advisory_lock(${lockId.toString()}::bigint)`;
      await expectProblem(await postRaw(path, raw, key), 409, 'request_in_progress');
      // While it runs, any repeat is told to wait, whatever its body.
      await expectProblem(await postRaw(path, JSON.stringify({ delta: -5, reason: 'sold' }), key), 409, 'request_in_progress');
      expect(await stockOf(id)).toEqual({ quantity: 10, movements: 1 });
      expect(await keyRow(path, key)).toBeUndefined();
    } finally {
      await holder`SELECT pg_advisory_unlock_all()`;
      holder.release();
    }
    // Once it is over, the key is free: the request runs.
    expect((await postRaw(path, raw, key)).status).toBe(201);
    expect(await stockOf(id)).toEqual({ quantity: 9, movements: 2 });
  });

  test('a repeat of a request blocked in the database gets 409, then the stored answer once it finishes', async () => {
    const id = await createProduct(10);
    const path = `/products/${id}/stock-adjustments`;
    const raw = JSON.stringify({ delta: -4, reason: 'sold' });
    const key = newKey();

    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => { locked = resolve; });
    // Another session holds the product row, so the first request stops inside its transaction.
    const holder = t.db.sql.begin(async (tx) => {
      await tx`SELECT id FROM products WHERE id = ${id} FOR UPDATE`;
      locked();
      await released;
    });
    let first: Promise<Response> | undefined;
    try {
      await isLocked;
      first = postRaw(path, raw, key);
      await waitFor('the first request to wait on the row lock', async () => {
        const [row] = await t.db.sql`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`;
        return row!.n > 0;
      });
      await expectProblem(await postRaw(path, raw, key), 409, 'request_in_progress');
    } finally {
      release();
      await holder;
    }
    const done = await first!;
    expect(done.status).toBe(201);
    const body = await done.text();
    const repeat = await postRaw(path, raw, key);
    expect(repeat.status).toBe(201);
    expect(repeat.headers.get('idempotent-replayed')).toBe('true');
    expect(await repeat.text()).toBe(body);
    expect(await stockOf(id)).toEqual({ quantity: 6, movements: 2 });
  });

  test('a claim left unanswered for over 5 minutes is taken over by a retry', async () => {
    const id = await createProduct(10);
    const path = `/products/${id}/stock-adjustments`;
    const raw = JSON.stringify({ delta: -1, reason: 'sold' });
    const key = newKey();
    await t.db.sql`
      INSERT INTO idempotency_keys (method, path, key, request_hash, created_at)
      VALUES ('POST', ${path}, ${key}, ${bodyHash(raw)}, now() - interval '10 minutes')`;
    const res = await postRaw(path, raw, key);
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(await stockOf(id)).toEqual({ quantity: 9, movements: 2 });
    expect(await keyRow(path, key)).toMatchObject({ status: 201 });
  });

  test('20 concurrent requests with one key write one movement; the others wait or replay', async () => {
    const id = await createProduct(50);
    const raw = JSON.stringify({ delta: -5, reason: 'sold', note: 'one order' });
    const key = newKey();
    const server = listen(t.app);
    let responses: { status: number; replayed: string | null; text: string }[];
    try {
      responses = await Promise.all(Array.from({ length: 20 }, async () => {
        const res = await documentedFetch(`${server.base}/products/${id}/stock-adjustments`, {
          method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: raw,
        });
        return { status: res.status, replayed: res.headers.get('idempotent-replayed'), text: await res.text() };
      }));
    } finally {
      server.stop();
    }
    const originals = responses.filter((r) => r.status === 201 && r.replayed === null);
    expect(originals.length).toBe(1);
    for (const r of responses) {
      if (r === originals[0]) continue;
      if (r.status === 201) {
        expect(r.replayed).toBe('true');
        expect(r.text).toBe(originals[0]!.text);
      } else {
        expect(r.status).toBe(409);
        expect(JSON.parse(r.text).code).toBe('request_in_progress');
      }
    }
    expect(await stockOf(id)).toEqual({ quantity: 45, movements: 2 });
  });
});

describe('Idempotency-Key: expiry', () => {
  test('an expired key runs as new, even with a different body', async () => {
    const id = await createProduct(10);
    const path = `/products/${id}/stock-adjustments`;
    const key = newKey();
    expect((await postRaw(path, JSON.stringify({ delta: -1, reason: 'sold' }), key)).status).toBe(201);
    await t.db.sql`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = ${key}`;

    const raw = JSON.stringify({ delta: -2, reason: 'sold' });
    const res = await postRaw(path, raw, key);
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(await stockOf(id)).toEqual({ quantity: 7, movements: 3 });
    expect(await keyRow(path, key)).toMatchObject({ status: 201, request_hash: bodyHash(raw) });

    const repeat = await postRaw(path, raw, key);
    expect(repeat.headers.get('idempotent-replayed')).toBe('true');
    expect(await stockOf(id)).toEqual({ quantity: 7, movements: 3 });
  });

  test('an expired key with the same body runs again', async () => {
    const id = await createProduct(10);
    const path = `/products/${id}/stock-adjustments`;
    const raw = JSON.stringify({ delta: -1, reason: 'sold' });
    const key = newKey();
    expect((await postRaw(path, raw, key)).status).toBe(201);
    await t.db.sql`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = ${key}`;
    const res = await postRaw(path, raw, key);
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(await stockOf(id)).toEqual({ quantity: 8, movements: 3 });
  });

  test('expired keys of other requests are purged when a keyed request arrives', async () => {
    const expired = [newKey(), newKey(), newKey()];
    const live = newKey();
    for (const key of expired) {
      await t.db.sql`
        INSERT INTO idempotency_keys (method, path, key, request_hash, status, response_body, expires_at)
        VALUES ('POST', '/products', ${key}, 'x', 201, '{}', now() - interval '1 hour')`;
    }
    await t.db.sql`
      INSERT INTO idempotency_keys (method, path, key, request_hash, status, response_body)
      VALUES ('POST', '/products', ${live}, 'x', 201, '{}')`;

    const res = await t.post('/categories', { name: unique('Purge trigger') }, { 'idempotency-key': newKey() });
    expect(res.status).toBe(201);
    const rows = await t.db.sql<{ key: string }[]>`
      SELECT key FROM idempotency_keys WHERE key = ANY(${[...expired, live]})`;
    expect(rows.map((r) => r.key)).toEqual([live]);
    const [left] = await t.db.sql`SELECT count(*)::int AS n FROM idempotency_keys WHERE expires_at < now()`;
    expect(left!.n).toBe(0);
  });
});

describe('Idempotency-Key: failed requests', () => {
  test('a refused adjustment writes nothing and its repeat replays the 409, even once stock arrives', async () => {
    const id = await createProduct(2);
    const path = `/products/${id}/stock-adjustments`;
    const raw = JSON.stringify({ delta: -5, reason: 'sold' });
    const key = newKey();
    const first = await postRaw(path, raw, key);
    const firstBody = await expectProblem(first, 409, 'insufficient_stock');
    expect(await stockOf(id)).toEqual({ quantity: 2, movements: 1 });

    const again = await postRaw(path, raw, key);
    expect(again.status).toBe(409);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await json(again)).toEqual(firstBody);

    expect((await t.post(path, { delta: 10, reason: 'received' })).status).toBe(201);
    const later = await postRaw(path, raw, key);
    expect(later.status).toBe(409);
    expect(later.headers.get('idempotent-replayed')).toBe('true');
    expect(await stockOf(id)).toEqual({ quantity: 12, movements: 2 });
  });

  test('a refused product (duplicate SKU) is not created and its repeat replays the 409', async () => {
    const sku = `DUP-${nextNumber()}`;
    expect((await t.post('/products', { name: unique('Original'), price: 1, sku })).status).toBe(201);
    const name = unique('Copy');
    const raw = JSON.stringify({ name, price: 1, sku, quantity: 4 });
    const key = newKey();
    await expectProblem(await postRaw('/products', raw, key), 409, 'duplicate_sku');
    const again = await postRaw('/products', raw, key);
    expect(again.status).toBe(409);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM products WHERE name = ${name}`;
    expect(row!.n).toBe(0);
  });

  test.each([
    ['empty', ''],
    ['256 characters long', 'k'.repeat(256)],
    ['holding a tab', 'a\tb'],
    ['holding a control character', 'a\x01b'],
    ['holding a non-ASCII character', 'clé'],
  ])('refuses a key %s with 422 and writes nothing', async (_, key) => {
    const id = await createProduct(5);
    const path = `/products/${id}/stock-adjustments`;
    const body = await expectProblem(await postRaw(path, '{"delta":-1,"reason":"sold"}', key), 422, 'validation_failed');
    expect(body.errors.map((e: { path: string }) => e.path)).toEqual(['idempotency-key']);
    expect(await stockOf(id)).toEqual({ quantity: 5, movements: 1 });
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM idempotency_keys WHERE path = ${path}`;
    expect(row!.n).toBe(0);
  });

  test('accepts a key of 255 printable characters', async () => {
    const id = await createProduct(5);
    const key = `~ ${'k'.repeat(251)} !`;
    expect(key.length).toBe(255);
    const res = await postRaw(`/products/${id}/stock-adjustments`, '{"delta":-1,"reason":"sold"}', key);
    expect(res.status).toBe(201);
    expect(await keyRow(`/products/${id}/stock-adjustments`, key)).toMatchObject({ status: 201 });
  });
});
