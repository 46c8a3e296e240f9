import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createApp, type App } from '../src/app.ts';
import { checkedApp, documentedFetch } from './support/contract.ts';
import { freePort } from '../src/cli/embedded-postgres.ts';
import { createPool, type Pool } from '../src/db.ts';
import { createLogger } from '../src/logger.ts';
import { createTestApp, listen, type TestApp } from './support/app.ts';
import { expectProblem } from './support/problem.ts';

const LIMIT = 64 * 1024;

const pathsOf = (problem: { errors: { path: string }[] }) => [...new Set(problem.errors.map((e) => e.path))].sort();

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

async function productCount(): Promise<number> {
  const [row] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM products`;
  return row!.n;
}

function postRaw(path: string, body: string, contentType: string | null = 'application/json') {
  const headers: Record<string, string> = contentType === null ? {} : { 'content-type': contentType };
  return t.request(path, { method: 'POST', headers, body });
}

/** A valid product body, padded with whitespace to more than 64 KiB. */
const oversized = () => `{"name":"Oversized","price":1${' '.repeat(LIMIT)}}`;

/** The same body as a stream of chunks, so no Content-Length is known in advance. */
function oversizedStream(): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(oversized());
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + 8192));
      offset += 8192;
    },
  });
}

describe('errors: request bodies', () => {
  test('answers 400 malformed_json for a body that is not JSON, and writes nothing', async () => {
    for (const body of ['{bad', '{"name":"x","price":1', '']) {
      await expectProblem(await postRaw('/products', body), 400, 'malformed_json');
    }
    expect(await productCount()).toBe(0);
  });

  test('answers 415 unsupported_media_type for a text/plain body, even one holding JSON', async () => {
    await expectProblem(await postRaw('/products', 'x', 'text/plain'), 415, 'unsupported_media_type');
    await expectProblem(await postRaw('/products', '{"name":"Plain","price":1}', 'text/plain'), 415, 'unsupported_media_type');
    await expectProblem(await postRaw('/categories', '{"name":"Plain"}', 'text/plain'), 415, 'unsupported_media_type');
    expect(await productCount()).toBe(0);
  });

  test('answers 413 payload_too_large for a body over 64 KiB sent with Content-Length, and writes nothing', async () => {
    const body = oversized();
    const res = await t.request('/products', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      body,
    });
    await expectProblem(res, 413, 'payload_too_large');
    expect(await productCount()).toBe(0);
  });

  test('answers 413 payload_too_large for a streamed body over 64 KiB without Content-Length', async () => {
    const res = await t.request('/products', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: oversizedStream(),
      duplex: 'half',
    } as RequestInit);
    await expectProblem(res, 413, 'payload_too_large');
    expect(await productCount()).toBe(0);
  });

  test('answers 413 payload_too_large over a real socket, chunked and with Content-Length', async () => {
    const server = listen(t.app);
    try {
      const chunked = await documentedFetch(`${server.base}/products`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: oversizedStream(),
        duplex: 'half',
      } as RequestInit);
      await expectProblem(chunked, 413, 'payload_too_large');
      const sized = await documentedFetch(`${server.base}/products`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: oversized(),
      });
      await expectProblem(sized, 413, 'payload_too_large');
    } finally {
      server.stop();
    }
    expect(await productCount()).toBe(0);
  });

  test('accepts a body just under 64 KiB', async () => {
    const body = `{"name":"Just Fits","price":1${' '.repeat(LIMIT - 40)}}`;
    expect(body.length).toBeLessThanOrEqual(LIMIT);
    expect((await postRaw('/products', body)).status).toBe(201);
  });

  test('answers 422 for JSON that is not an object', async () => {
    for (const body of ['null', '[]', '"text"', '42']) {
      await expectProblem(await postRaw('/products', body), 422, 'validation_failed');
    }
  });
});

describe('errors: validation', () => {
  test('names every bad field in one 422 validation_failed response, and writes nothing', async () => {
    const before = await productCount();
    const problem = await expectProblem(
      await t.post('/products', {
        name: '  ',
        price: 1.234,
        sku: '-bad',
        description: 'd'.repeat(2001),
        quantity: -1,
        category: '',
        colour: 'red',
      }),
      422,
      'validation_failed',
    );
    expect(pathsOf(problem)).toEqual(['category', 'colour', 'description', 'name', 'price', 'quantity', 'sku']);
    for (const e of problem.errors) expect(e).toEqual({ path: expect.any(String), message: expect.any(String) });
    expect(await productCount()).toBe(before);
  });

  test('names every bad query parameter in one response', async () => {
    const problem = await expectProblem(await t.request('/products?limit=0&sort=bogus'), 422, 'validation_failed');
    expect(pathsOf(problem)).toEqual(['limit', 'sort']);
  });

  test.each([
    ['name', { name: 'Nul\u0000Name', price: 1 }],
    ['description', { name: 'Nul description', price: 1, description: 'a\u0000b' }],
    ['category', { name: 'Nul category', price: 1, category: 'Cat\u0000' }],
  ])('refuses a NUL character in %s with 422 naming it, not 500', async (field, body) => {
    const problem = await expectProblem(await t.post('/products', body), 422, 'validation_failed');
    expect(pathsOf(problem)).toEqual([field]);
  });

  test.each(['category', 'sku'])('refuses a NUL character in the %s query parameter with 422, not 500', async (param) => {
    const problem = await expectProblem(await t.request(`/products?${param}=a%00b`), 422, 'validation_failed');
    expect(pathsOf(problem)).toEqual([param]);
  });
});

describe('errors: not found', () => {
  test('answers 404 not_found for a product id that does not exist', async () => {
    await expectProblem(await t.request('/products/424242'), 404, 'not_found');
  });

  test('answers 404 not_found for a route that does not exist', async () => {
    await expectProblem(await t.request('/nope'), 404, 'not_found');
    await expectProblem(await t.request('/products/1/nope'), 404, 'not_found');
    await expectProblem(await postRaw('/nope', '{}'), 404, 'not_found');
  });
});

describe('errors: conflicts decided by the database', () => {
  test('answers 409 duplicate_sku for a SKU taken in any case, and keeps one row', async () => {
    expect((await t.post('/products', { name: 'Sku Owner', price: 1, sku: 'Dup-Sku-1' })).status).toBe(201);
    await expectProblem(await t.post('/products', { name: 'Sku Copy', price: 1, sku: 'Dup-Sku-1' }), 409, 'duplicate_sku');
    await expectProblem(await t.post('/products', { name: 'Sku Case', price: 1, sku: 'DUP-SKU-1' }), 409, 'duplicate_sku');
    const rows = await t.db.sql`SELECT name FROM products WHERE lower(sku) = 'dup-sku-1'`;
    expect(rows.map((r) => r.name)).toEqual(['Sku Owner']);
  });

  test('answers 409 duplicate_name for a name taken in any case, and keeps one row', async () => {
    expect((await t.post('/products', { name: 'Unique Widget', price: 1 })).status).toBe(201);
    await expectProblem(await t.post('/products', { name: 'Unique Widget', price: 2 }), 409, 'duplicate_name');
    await expectProblem(await t.post('/products', { name: 'uNIQUE wIDGET', price: 2 }), 409, 'duplicate_name');
    await expectProblem(await t.post('/products', { name: ' unique widget ', price: 2 }), 409, 'duplicate_name');
    const rows = await t.db.sql`SELECT price::text AS price FROM products WHERE lower(name) = 'unique widget'`;
    expect(rows.map((r) => r.price)).toEqual(['1.00']);
  });
});

describe('errors: database unavailable', () => {
  let port: number;
  let down: { app: App; sql: Pool };
  beforeAll(async () => {
    port = await freePort();
    const sql = createPool({ databaseUrl: `postgres://inventory:secret@127.0.0.1:${port}/inventory`, poolMax: 2 });
    down = { app: checkedApp(createApp({ sql, logger: createLogger('silent') })), sql };
  });
  afterAll(async () => {
    await down?.sql.end({ timeout: 0 });
  });

  const driverText = () => new RegExp(`ECONNREFUSED|errno|syscall|INSERT|SELECT|postgres|127\\.0\\.0\\.1|${port}|secret`, 'i');

  test('POST /products answers 503 database_unavailable without SQL or driver text', async () => {
    const res = await down.app.request('/products', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Offline', price: 1 }),
    });
    const problem = await expectProblem(res, 503, 'database_unavailable');
    expect(JSON.stringify(problem)).not.toMatch(driverText());
  });

  test.each(['/products', '/products/1', '/categories'])('GET %s answers 503 database_unavailable', async (path) => {
    const problem = await expectProblem(await down.app.request(path), 503, 'database_unavailable');
    expect(JSON.stringify(problem)).not.toMatch(driverText());
  });
});

describe('errors: after the handler answered', () => {
  test('a keyed write whose transaction fails to commit is 503 without the ETag and Location of the product it did not keep', async () => {
    // The stored answer cannot be written: the whole transaction, the product included, is rolled back.
    await t.db.admin.unsafe(`
      CREATE FUNCTION refuse_key() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'shutting down' USING ERRCODE = '57P01'; END $$;
      CREATE TRIGGER refuse_key BEFORE INSERT ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION refuse_key();`);
    try {
      const res = await t.post('/products', { name: 'Never kept', price: 1 }, { 'idempotency-key': 'commit-fails-1' });
      expect({ etag: res.headers.get('etag'), location: res.headers.get('location') }).toEqual({ etag: null, location: null });
      await expectProblem(res, 503, 'database_unavailable');
      expect((await t.db.sql`SELECT id FROM products WHERE name = 'Never kept'`).length).toBe(0);
    } finally {
      await t.db.admin.unsafe('DROP TRIGGER refuse_key ON idempotency_keys; DROP FUNCTION refuse_key();');
    }
  });
});

describe('errors: X-Request-Id', () => {
  test('echoes the X-Request-Id the client sent', async () => {
    const res = await t.request('/healthz', { headers: { 'x-request-id': 'client-req.42:abc' } });
    expect(res.headers.get('x-request-id')).toBe('client-req.42:abc');
  });

  test('generates a different X-Request-Id for each request that sends none', async () => {
    const a = (await t.request('/healthz')).headers.get('x-request-id');
    const b = (await t.request('/healthz')).headers.get('x-request-id');
    expect(a).toMatch(/^\S{8,}$/);
    expect(b).toMatch(/^\S{8,}$/);
    expect(a).not.toBe(b);
  });

  test('carries the X-Request-Id on error responses too', async () => {
    const headers = { 'x-request-id': 'err-trace-1', 'content-type': 'application/json' };
    expect((await t.request('/nope', { headers })).headers.get('x-request-id')).toBe('err-trace-1');
    expect((await t.request('/products', { method: 'POST', headers, body: '{bad' })).headers.get('x-request-id')).toBe(
      'err-trace-1',
    );
    expect((await t.request('/products', { method: 'POST', headers, body: '{}' })).headers.get('x-request-id')).toBe(
      'err-trace-1',
    );
    expect((await t.request('/products', { method: 'POST', headers, body: oversized() })).headers.get('x-request-id')).toBe(
      'err-trace-1',
    );
  });

  test('replaces an X-Request-Id that is too long or holds unsafe characters with a generated one', async () => {
    for (const sent of ['x'.repeat(200), 'id with spaces', '<script>']) {
      const got = (await t.request('/healthz', { headers: { 'x-request-id': sent } })).headers.get('x-request-id');
      expect(got).not.toBe(sent);
      expect(got).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
    }
  });
});
