/**
 * Security headers on every response, success or error, and CORS: off by
 * default, and with CORS_ORIGINS only the listed origins may read responses.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createApp, type App } from '../../src/app.ts';
import { checkedApp, documentedFetch } from '../support/contract.ts';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import type { Config } from '../../src/config.ts';
import { createPool, type Pool } from '../../src/db.ts';
import { createLogger } from '../../src/logger.ts';
import { listen } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { expectProblem } from '../support/problem.ts';

const SHOP = 'https://shop.example';
const json = { 'content-type': 'application/json' };

let db: TestDatabase;
let deadPool: Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  // A pool whose database never answers: every query fails at once with ECONNREFUSED.
  const port = await freePort();
  deadPool = createPool({ databaseUrl: `postgres://nobody:nothing@127.0.0.1:${port}/none`, poolMax: 1, connectTimeoutMs: 500 });
});
afterAll(async () => {
  await deadPool?.end({ timeout: 1 });
  await db?.drop();
});

const appWith = (config: Partial<Config> = {}, sql: Pool = db.sql): App =>
  checkedApp(createApp({ sql, config, logger: createLogger('silent') }));

function expectSecurityHeaders(res: Response, label: string) {
  const h = (name: string) => res.headers.get(name);
  expect({ label, nosniff: h('x-content-type-options') }).toEqual({ label, nosniff: 'nosniff' });
  expect({ label, frame: h('x-frame-options') }).toEqual({ label, frame: expect.stringMatching(/^(DENY|SAMEORIGIN)$/) });
  expect({ label, referrer: h('referrer-policy') }).toEqual({
    label,
    referrer: expect.stringMatching(/^(no-referrer|same-origin|strict-origin)/),
  });
  const hsts = /max-age=(\d+)/.exec(h('strict-transport-security') ?? '');
  expect({ label, hstsMaxAge: Number(hsts?.[1] ?? 0) > 0 }).toEqual({ label, hstsMaxAge: true });
  expect({ label, poweredBy: h('x-powered-by') }).toEqual({ label, poweredBy: null });
}

describe('security headers', () => {
  test('on 200, 201, 204, 404, 409, 412, 415, 422 and on the docs', async () => {
    const app = appWith();
    const created = await app.request('/products', { method: 'POST', headers: json, body: '{"name":"Headed","price":1}' });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: number };
    const cases: [number, string, RequestInit?][] = [
      [200, '/products'],
      [200, '/healthz'],
      [200, '/openapi.json'],
      [200, '/docs'],
      [404, '/products/999999'],
      [404, '/no/such/route'],
      [409, '/products', { method: 'POST', headers: json, body: '{"name":"Headed","price":1}' }],
      [412, `/products/${id}`, { method: 'PATCH', headers: { ...json, 'if-match': '"99"' }, body: '{"price":2}' }],
      [415, '/products', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }],
      [422, '/products?limit=0'],
      [204, `/products/${id}`, { method: 'DELETE' }],
    ];
    for (const [status, path, init] of cases) {
      const res = await app.request(path, init);
      expect({ path, status: res.status }).toEqual({ path, status });
      expectSecurityHeaders(res, `${status} ${path}`);
    }
  });

  test('on 503 when the database is down, problem documents and the readiness probe alike', async () => {
    const app = appWith({}, deadPool);
    const down = await app.request('/products');
    expect(down.status).toBe(503);
    expect(((await down.json()) as { code: string }).code).toBe('database_unavailable');
    expectSecurityHeaders(down, '503 /products');
    const notReady = await app.request('/readyz');
    expect(notReady.status).toBe(503);
    expectSecurityHeaders(notReady, '503 /readyz');
  });

  test('on 401, 413, 414 and 431 refused by middleware, and over a real socket', async () => {
    const app = appWith({ apiKeys: ['k1-0123456789abcdef'] });
    const cases: [number, string, RequestInit?][] = [
      [401, '/products', { method: 'POST', headers: json, body: '{}' }],
      [
        413,
        '/products',
        { method: 'POST', headers: { ...json, authorization: 'Bearer k1-0123456789abcdef' }, body: ' '.repeat(70_000) },
      ],
      [414, `/products?sku=${'a'.repeat(9000)}`],
      [431, '/products', { headers: { 'x-padding': 'a'.repeat(17_000) } }],
    ];
    for (const [status, path, init] of cases) {
      const res = await app.request(path, init);
      expect(res.status).toBe(status);
      expectSecurityHeaders(res, `${status} in-process`);
    }
    const server = listen(app);
    try {
      for (const [status, path, init] of cases.slice(0, 3)) {
        const res = await documentedFetch(server.base + path, init);
        expect(res.status).toBe(status);
        expectSecurityHeaders(res, `${status} over a socket`);
      }
      expectSecurityHeaders(await documentedFetch(`${server.base}/products`), '200 over a socket');
    } finally {
      server.stop();
    }
  });
});

const preflight = (app: App, origin: string, path = '/products/1', method = 'PATCH') =>
  app.request(path, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': method,
      'access-control-request-headers': 'authorization, content-type, idempotency-key, if-match',
    },
  });

const corsHeaders = (res: Response) =>
  Object.fromEntries([...res.headers].filter(([name]) => name.startsWith('access-control-')));

const listOf = (value: string | null) =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

describe('CORS off by default', () => {
  test('a cross-origin request gets no Access-Control-* headers', async () => {
    const res = await appWith().request('/products', { headers: { origin: SHOP } });
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual({});
  });

  test('a preflight gets no Access-Control-* headers, so the browser blocks the write: 405, OPTIONS is not a method of the path', async () => {
    const res = await preflight(appWith(), SHOP);
    expect(corsHeaders(res)).toEqual({});
    expect(res.headers.get('allow')).toBe('GET, HEAD, PATCH, DELETE');
    await expectProblem(res, 405, 'method_not_allowed');
  });
});

describe('CORS with corsOrigins', () => {
  const app = () => appWith({ corsOrigins: [SHOP] });

  test('the listed origin may read responses, with the headers clients need exposed', async () => {
    const res = await app().request('/products', { headers: { origin: SHOP } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(listOf(res.headers.get('vary'))).toContain('origin');
    expect(listOf(res.headers.get('access-control-expose-headers'))).toEqual(
      expect.arrayContaining(['etag', 'location', 'link', 'retry-after', 'x-request-id', 'idempotent-replayed']),
    );
  });

  test('its preflight allows the writes and the Idempotency-Key, If-Match and Authorization headers', async () => {
    for (const method of ['POST', 'PATCH', 'DELETE']) {
      const res = await preflight(app(), SHOP, '/products/1', method);
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(SHOP);
      expect(listOf(res.headers.get('access-control-allow-methods'))).toContain(method.toLowerCase());
      expect(listOf(res.headers.get('access-control-allow-headers'))).toEqual(
        expect.arrayContaining(['authorization', 'content-type', 'idempotency-key', 'if-match']),
      );
      expect(Number(res.headers.get('access-control-max-age'))).toBeGreaterThan(0);
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  test('other origins, look-alikes included, get no Access-Control-Allow-Origin', async () => {
    const others = [
      'https://evil.example',
      'https://shop.example.evil.example',
      'https://evilshop.example',
      'http://shop.example',
      'https://shop.example:8443',
      'https://SHOP.EXAMPLE',
      'https://shop.example/',
      'null',
      '*',
      `${SHOP}, https://evil.example`,
    ];
    for (const origin of others) {
      const read = await app().request('/products', { headers: { origin } });
      expect({ origin, allow: read.headers.get('access-control-allow-origin') }).toEqual({ origin, allow: null });
      const pre = await preflight(app(), origin);
      expect({ origin, allow: pre.headers.get('access-control-allow-origin') }).toEqual({ origin, allow: null });
      expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
    }
    const none = await app().request('/products');
    expect(none.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('with keys required for reads, the preflight needs no key and errors stay readable by the listed origin', async () => {
    const guarded = appWith({ corsOrigins: [SHOP], apiKeys: ['k1-0123456789abcdef'], readsRequireKey: true });
    const pre = await preflight(guarded, SHOP, '/products', 'GET');
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(SHOP);
    const refused = await guarded.request('/products', { headers: { origin: SHOP } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(SHOP);
    expectSecurityHeaders(refused, '401 with CORS');
  });
});
