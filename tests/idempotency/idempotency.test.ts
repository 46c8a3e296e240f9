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
beforeAll(async () => {
  t = await createTestApp({ poolMax: 20 });
});
afterAll(async () => {
  await t?.close();
});

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
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: raw,
    });
    expect(viaSamePool.headers.get('idempotent-replayed')).toBe('true');
    expect(await viaSamePool.text()).toBe(firstBody);

    const pool = createPool({ databaseUrl: t.db.url, poolMax: 2 }, 'inventory-test-second');
    try {
      const second = checkedApp(createApp({ sql: pool, logger: createLogger('silent') }));
      const viaNewPool = await second.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: raw,
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

/** The spellings of product 45 that JavaScript reads as 45 (in the path, each could name product 45). */
const spellingsOf = (id: number) => [`0${id}`, `${id}.0`, `${id}e0`, `0x${id.toString(16)}`];

describe('Idempotency-Key: one operation, one spelling', () => {
  test("one key sent to five spellings of one product's stock adjustments: one 201, the others 422, stock taken once", async () => {
    const id = await createProduct(10);
    const raw = JSON.stringify({ delta: -1, reason: 'sold' });
    const key = newKey();
    const first = await postRaw(`/products/${id}/stock-adjustments`, raw, key);
    expect(first.status).toBe(201);
    for (const spelling of spellingsOf(id)) {
      const body = await expectProblem(
        await postRaw(`/products/${spelling}/stock-adjustments`, raw, key),
        422,
        'validation_failed',
      );
      expect({ spelling, errors: body.errors.map((e: { path: string }) => e.path) }).toEqual({ spelling, errors: ['id'] });
    }
    expect(await stockOf(id)).toEqual({ quantity: 9, movements: 2 });
    const rows = await t.db.sql<{ path: string }[]>`SELECT path FROM idempotency_keys WHERE key = ${key}`;
    expect(rows.map((r) => r.path)).toEqual([`/products/${id}/stock-adjustments`]);
  });

  test("one key sent to five spellings of one product's restore: restored once, the others 422", async () => {
    const id = await createProduct(1);
    const key = newKey();
    expect((await t.request(`/products/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await postRaw(`/products/${id}/restore`, '', key)).status).toBe(200);
    // Archived again: a spelling that ran would bring it back.
    expect((await t.request(`/products/${id}`, { method: 'DELETE' })).status).toBe(204);
    for (const spelling of spellingsOf(id)) {
      await expectProblem(await postRaw(`/products/${spelling}/restore`, '', key), 422, 'validation_failed');
    }
    expect((await t.request(`/products/${id}`)).status).toBe(404);
  });

  test('a trailing slash or percent-encoded digits name the same operation: every keyed route replays', async () => {
    const productRaw = JSON.stringify({ name: unique('Slashed'), price: 3 });
    const categoryRaw = JSON.stringify({ name: unique('Slashed category') });
    const adjusted = await createProduct(10);
    const restored = await createProduct(1);
    expect((await t.request(`/products/${restored}`, { method: 'DELETE' })).status).toBe(204);
    const encoded = (id: number) => [...String(id)].map((d) => `%3${d}`).join('');
    const cases: [string, string[], string][] = [
      ['/products', ['/products/'], productRaw],
      ['/categories', ['/categories/'], categoryRaw],
      [
        `/products/${adjusted}/stock-adjustments`,
        [`/products/${adjusted}/stock-adjustments/`, `/products/${encoded(adjusted)}/stock-adjustments`],
        '{"delta":-2,"reason":"sold"}',
      ],
      [`/products/${restored}/restore`, [`/products/${restored}/restore/`, `/products/${encoded(restored)}/restore`], ''],
    ];
    for (const [path, others, raw] of cases) {
      const key = newKey();
      const first = await postRaw(path, raw, key);
      expect({ path, status: first.status }).toEqual({ path, status: path.endsWith('restore') ? 200 : 201 });
      const body = await first.text();
      for (const other of others) {
        const again = await postRaw(other, raw, key);
        expect({ other, status: again.status, replayed: again.headers.get('idempotent-replayed') }).toEqual({
          other,
          status: first.status,
          replayed: 'true',
        });
        expect(await again.text()).toBe(body);
      }
      const rows = await t.db.sql<{ path: string }[]>`SELECT path FROM idempotency_keys WHERE key = ${key}`;
      expect(rows.map((r) => r.path)).toEqual([path]);
    }
    expect(await stockOf(adjusted)).toEqual({ quantity: 8, movements: 2 });
  });

  test('a key stored under its request path by an earlier version still replays', async () => {
    const id = await createProduct(10);
    const path = `/products/${id}/stock-adjustments`;
    const raw = JSON.stringify({ delta: -1, reason: 'sold' });
    // An answer as an earlier version stored it: scoped by the request path as written.
    const answered = await postRaw(path, raw);
    expect(answered.status).toBe(201);
    const body = await answered.text();
    const key = newKey();
    await t.db.sql`
      INSERT INTO idempotency_keys (method, path, key, request_hash, status, response_headers, response_body)
      VALUES ('POST', ${path}, ${key}, ${bodyHash(raw)}, 201, ${t.db.sql.json({ 'content-type': answered.headers.get('content-type')!, etag: answered.headers.get('etag')! })}, ${body})`;
    const res = await postRaw(path, raw, key);
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBe('true');
    expect(await res.text()).toBe(body);
    expect(await stockOf(id)).toEqual({ quantity: 9, movements: 2 });
  });
});

describe('ids in paths', () => {
  test('every id path parameter takes only digits without a leading zero, within the safe integer range', async () => {
    const productId = await createProduct(1);
    const [category] = await t.db.sql<
      { id: number }[]
    >`INSERT INTO categories (name) VALUES (${unique('Ids')}) RETURNING id::int`;
    const jsonType = { 'content-type': 'application/json' };
    const operations: [string, (id: string) => [string, RequestInit]][] = [
      ['GET product', (id) => [`/products/${id}`, {}]],
      ['PATCH product', (id) => [`/products/${id}`, { method: 'PATCH', headers: jsonType, body: '{}' }]],
      ['DELETE product', (id) => [`/products/${id}`, { method: 'DELETE' }]],
      ['restore', (id) => [`/products/${id}/restore`, { method: 'POST' }]],
      [
        'adjust',
        (id) => [
          `/products/${id}/stock-adjustments`,
          { method: 'POST', headers: jsonType, body: '{"delta":1,"reason":"received"}' },
        ],
      ],
      ['movements', (id) => [`/products/${id}/stock-movements`, {}]],
      ['DELETE category', (id) => [`/categories/${id}`, { method: 'DELETE' }]],
    ];
    const refused = [
      '0',
      '-1',
      '+1',
      '%201',
      '1%20',
      '1.5',
      '1_000',
      '%D9%A3',
      '9007199254740992',
      '99999999999999999999',
      ...spellingsOf(productId),
      ...spellingsOf(category!.id),
    ];
    for (const [name, request] of operations) {
      for (const spelling of refused) {
        const body = await expectProblem(await t.request(...request(spelling)), 422, 'validation_failed');
        expect({ name, spelling, errors: body.errors.map((e: { path: string }) => e.path) }).toEqual({
          name,
          spelling,
          errors: ['id'],
        });
      }
      // The largest id still is one: no such row.
      await expectProblem(await t.request(...request(String(Number.MAX_SAFE_INTEGER))), 404, 'not_found');
    }
    expect(await stockOf(productId)).toEqual({ quantity: 1, movements: 1 });
    const [left] = await t.db.sql`SELECT count(*)::int AS n FROM categories WHERE id = ${category!.id}`;
    expect(left!.n).toBe(1);
  });

  test('the OpenAPI document gives every id path parameter the pattern', async () => {
    const doc = (await (await t.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { parameters?: { in: string; name: string; schema: Record<string, unknown> }[] }>>;
    };
    const ids = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).flatMap(([method, op]) =>
        (op.parameters ?? [])
          .filter((p) => p.in === 'path')
          .map((p) => ({ at: `${method} ${path}`, name: p.name, schema: p.schema })),
      ),
    );
    // One parameter per {segment} of every operation's path, each an id.
    const segments = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).flatMap(() => path.match(/\{[^}]+\}/g) ?? []),
    );
    expect(ids.length).toBe(segments.length);
    expect(ids.length).toBeGreaterThanOrEqual(17);
    for (const p of ids) {
      expect(p).toEqual({
        at: p.at,
        name: expect.stringMatching(/^(id|location_id)$/),
        schema: expect.objectContaining({
          type: 'integer',
          minimum: 1,
          maximum: Number.MAX_SAFE_INTEGER,
          pattern: '^[1-9][0-9]*$',
        }),
      });
    }
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
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
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

  test('a row stored without an answer (a claim, as earlier versions kept them) does not block a retry, however recent', async () => {
    // A running request is known by its advisory lock, not by a row: a row with no status replays nothing.
    const id = await createProduct(10);
    const path = `/products/${id}/stock-adjustments`;
    const raw = JSON.stringify({ delta: -1, reason: 'sold' });
    const key = newKey();
    await t.db.sql`
      INSERT INTO idempotency_keys (method, path, key, request_hash)
      VALUES ('POST', ${path}, ${key}, ${bodyHash(raw)})`;
    const res = await postRaw(path, raw, key);
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(await stockOf(id)).toEqual({ quantity: 9, movements: 2 });
    expect(await keyRow(path, key)).toMatchObject({ status: 201 });
    const again = await postRaw(path, raw, key);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await stockOf(id)).toEqual({ quantity: 9, movements: 2 });
  });

  test('20 concurrent requests with one key write one movement; the others wait or replay', async () => {
    const id = await createProduct(50);
    const raw = JSON.stringify({ delta: -5, reason: 'sold', note: 'one order' });
    const key = newKey();
    const server = listen(t.app);
    let responses: { status: number; replayed: string | null; text: string }[];
    try {
      responses = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const res = await documentedFetch(`${server.base}/products/${id}/stock-adjustments`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': key },
            body: raw,
          });
          return { status: res.status, replayed: res.headers.get('idempotent-replayed'), text: await res.text() };
        }),
      );
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
