/**
 * API keys: with keys configured, every write needs `Authorization: Bearer
 * <key>` (reads too with readsRequireKey, except the probes and the docs);
 * keys never reach the logs; the server warns at start-up when writes are open.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createApp, type App } from '../../src/app.ts';
import { checkedApp, documentedFetch } from '../support/contract.ts';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import type { Config } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { HEADER_SIZE_FLAG } from '../../src/server.ts';
import { expectProblem } from '../support/problem.ts';

const K1 = 'k1-0123456789abcdef';
const K2 = 'k2-0123456789abcdef';
const KEYS = [K1, K2];
const json = { 'content-type': 'application/json' };

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

function appWith(config: Partial<Config>, logLines?: string[]): App {
  const logger = logLines ? createLogger('debug', (line) => logLines.push(line)) : createLogger('silent');
  return checkedApp(createApp({ sql: db.sql, config, logger }));
}

async function expectUnauthorized(res: Response) {
  expect(res.status).toBe(401);
  expect(res.headers.get('content-type')).toStartWith('application/problem+json');
  expect(res.headers.get('www-authenticate')).toStartWith('Bearer');
  const body = await res.json();
  expect(body).toEqual(expect.objectContaining({ status: 401, code: 'unauthorized', detail: expect.any(String) }));
  return body;
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function productCount(): Promise<number> {
  const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM products WHERE archived_at IS NULL`;
  return row!.n;
}

/** A product created through an app without keys, for the guarded writes to act on. */
async function seedProduct(name: string): Promise<number> {
  const open = appWith({});
  const res = await open.request('/products', {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ name, price: 3, quantity: 5 }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: number }).id;
}

describe('writes with keys configured', () => {
  let app: App;
  let id: number;
  beforeAll(async () => {
    app = appWith({ apiKeys: KEYS });
    id = await seedProduct('Guarded product');
  });

  const writes = () =>
    [
      ['POST', '/products', { name: 'Sneaky', price: 1 }],
      ['PATCH', `/products/${id}`, { name: 'Renamed by a stranger' }],
      ['DELETE', `/products/${id}`, undefined],
      ['POST', `/products/${id}/restore`, undefined],
      ['POST', `/products/${id}/stock-adjustments`, { delta: -5, reason: 'sold' }],
      ['POST', '/categories', { name: 'Sneaky category' }],
      ['DELETE', '/categories/1', undefined],
    ] as const;

  test('every write without Authorization is 401 unauthorized with WWW-Authenticate, and changes nothing', async () => {
    const before = await db.sql`SELECT * FROM products ORDER BY id`;
    for (const [method, path, body] of writes()) {
      const res = await app.request(path, { method, headers: json, body: body && JSON.stringify(body) });
      await expectUnauthorized(res);
    }
    expect(await db.sql`SELECT * FROM products ORDER BY id`).toEqual(before);
  });

  test('wrong keys, near misses and other schemes are 401', async () => {
    const wrong = [
      'Bearer wrong-key-0123456789',
      `Bearer ${K1.slice(0, -1)}`,
      `Bearer ${K1}0`,
      `Bearer ${K1.toUpperCase()}`,
      `Bearer ${K1} ${K2}`,
      `Bearer ${K1},${K2}`,
      `Basic ${btoa(`user:${K1}`)}`,
      `Token ${K1}`,
      K1,
      'Bearer',
      'Bearer ',
      `Bearer${K1}`,
      `Bearer "${K1}"`,
      `Bearer ${' '.repeat(100)}`,
      `Bearer ${'x'.repeat(4000)}`,
    ];
    for (const authorization of wrong) {
      const res = await app.request('/products', {
        method: 'POST',
        headers: { ...json, authorization },
        body: JSON.stringify({ name: `Wrong ${authorization.length}`, price: 1 }),
      });
      expect({ authorization, status: res.status }).toEqual({ authorization, status: 401 });
      await expectUnauthorized(res);
    }
  });

  test('either key is accepted for every kind of write, the scheme in any case', async () => {
    for (const [i, [key, scheme]] of (
      [
        [K1, 'Bearer'],
        [K2, 'bearer'],
        [K1, 'BEARER'],
      ] as const
    ).entries()) {
      const headers = { ...json, authorization: `${scheme} ${key}` };
      const created = await app.request('/products', {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: `Keyed ${i}`, price: 1 }),
      });
      expect(created.status).toBe(201);
      const { id: newId } = (await created.json()) as { id: number };
      const patched = await app.request(`/products/${newId}`, { method: 'PATCH', headers, body: JSON.stringify({ price: 2 }) });
      expect(patched.status).toBe(200);
      const adjusted = await app.request(`/products/${newId}/stock-adjustments`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ delta: 3, reason: 'received' }),
      });
      expect(adjusted.status).toBe(201);
      expect((await app.request(`/products/${newId}`, { method: 'DELETE', headers })).status).toBe(204);
      expect((await app.request(`/products/${newId}/restore`, { method: 'POST', headers })).status).toBe(200);
      const category = await app.request('/categories', {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: `Keyed category ${i}` }),
      });
      expect(category.status).toBe(201);
      expect(
        (await app.request(`/categories/${((await category.json()) as { id: number }).id}`, { method: 'DELETE', headers }))
          .status,
      ).toBe(204);
    }
  });

  test('reads stay open, with or without a key, right or wrong', async () => {
    for (const path of ['/products', `/products/${id}`, `/products/${id}/stock-movements`, '/categories', '/reports/inventory']) {
      expect((await app.request(path)).status).toBe(200);
      expect((await app.request(path, { headers: bearer('not-a-key-at-all') })).status).toBe(200);
    }
  });

  test('no detour around the check: method overrides, odd paths, lowercase methods, public paths', async () => {
    const before = await productCount();
    const override = await app.request(`/products/${id}`, { headers: { 'x-http-method-override': 'DELETE' } });
    expect(override.status).toBe(200);
    await expectUnauthorized(
      await app.request('/products/', { method: 'POST', headers: json, body: '{"name":"Slash","price":1}' }),
    );
    await expectUnauthorized(
      await app.request('/docs/../products', { method: 'POST', headers: json, body: '{"name":"Dots","price":1}' }),
    );
    await expectUnauthorized(await app.request(`/products/${id}`, { method: 'patch', headers: json, body: '{"name":"Lower"}' }));
    // Open paths take no writes: 405 where the path exists (with Allow), 404 where it does not.
    for (const [path, status, code, allow] of [
      ['/healthz', 405, 'method_not_allowed', 'GET, HEAD'],
      ['/openapi.json', 405, 'method_not_allowed', 'GET, HEAD'],
      ['/docs', 405, 'method_not_allowed', 'GET, HEAD'],
      ['/docs/x', 404, 'not_found', null],
    ] as const) {
      const res = await app.request(path, { method: 'POST', headers: json, body: '{"name":"Public","price":1}' });
      expect({ path, allow: res.headers.get('allow') }).toEqual({ path, allow });
      await expectProblem(res, status, code);
    }
    expect(await productCount()).toBe(before);
    const [row] = await db.sql<{ name: string }[]>`SELECT name FROM products WHERE id = ${id}`;
    expect(row!.name).toBe('Guarded product');
  });
});

describe('reads with readsRequireKey', () => {
  const app = () => appWith({ apiKeys: KEYS, readsRequireKey: true });

  test('listing and reading products need a key', async () => {
    for (const path of ['/products', '/products/1', '/categories', '/reports/inventory']) {
      await expectUnauthorized(await app().request(path));
      await expectUnauthorized(await app().request(path, { headers: bearer('wrong-key-0123456789') }));
      // With a valid key, a read is answered exactly as by a service without keys.
      const [withKey, open] = [await app().request(path, { headers: bearer(K2) }), await appWith({}).request(path)];
      expect({ path, status: withKey.status, body: await withKey.json() }).toEqual({
        path,
        status: open.status,
        body: await open.json(),
      });
    }
    expect((await app().request('/products', { headers: bearer(K1) })).status).toBe(200);
  });

  test('the probes, the OpenAPI document and the docs stay open', async () => {
    for (const path of ['/healthz', '/readyz', '/openapi.json', '/docs']) {
      const res = await app().request(path);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
    }
  });
});

describe('keys in logs', () => {
  test('no log line holds a key, right or wrong, whatever the request does', async () => {
    const lines: string[] = [];
    const app = appWith({ apiKeys: KEYS, readsRequireKey: true }, lines);
    const wrong = 'guessed-key-abcdef0123456789';
    const requests: [string, RequestInit][] = [
      ['/products', { method: 'POST', headers: { ...json, ...bearer(K1) }, body: JSON.stringify({ name: 'Logged?', price: 1 }) }],
      ['/products', { method: 'POST', headers: { ...json, ...bearer(K2) }, body: '{"name":' }],
      ['/products', { method: 'POST', headers: { ...json, ...bearer(wrong) }, body: '{}' }],
      ['/products', { method: 'DELETE', headers: { authorization: `Basic ${btoa(`me:${wrong}`)}` } }],
      ['/products', { headers: bearer(K1) }],
      ['/products/999999', { headers: bearer(K2) }],
      ['/products?limit=0', { headers: bearer(K1) }],
      ['/nowhere', { headers: bearer(wrong) }],
    ];
    for (const [path, init] of requests) {
      const res = await app.request(path, init);
      const body = await res.text();
      for (const key of [K1, K2, wrong]) expect(body).not.toContain(key);
    }
    expect(lines.length).toBeGreaterThanOrEqual(requests.length);
    const leaks = lines.filter((line) => [K1, K2, wrong, btoa(`me:${wrong}`)].some((k) => line.includes(k)));
    expect(leaks).toEqual([]);
  });

  test('the capture works: a line holding a key would be caught', () => {
    const lines: string[] = [];
    createLogger('debug', (line) => lines.push(line)).info('request', { authorization: `Bearer ${K1}` });
    expect(lines.filter((line) => line.includes(K1))).toHaveLength(1);
  });
});

describe('the server at start-up', () => {
  /** Starts `bun src/server.ts` as `bun run serve` does and returns its output up to the "listening" line. */
  async function startUp(extraEnv: Record<string, string>) {
    const testDb = await createTestDatabase();
    const port = await freePort();
    const proc = Bun.spawn([process.execPath, HEADER_SIZE_FLAG, 'src/server.ts'], {
      cwd: `${import.meta.dir}/../..`,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        DATABASE_URL: testDb.url,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'info',
        WEB_CONCURRENCY: '1',
        ...extraEnv,
      },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    let output = '';
    const reader = proc.stdout.getReader();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<{ done: true; value: undefined }>((resolve) => {
      timer = setTimeout(() => resolve({ done: true, value: undefined }), 15_000);
    });
    try {
      while (!output.includes('"listening"')) {
        const next = await Promise.race([reader.read(), timeout]);
        if (next.done) break;
        output += new TextDecoder().decode(next.value);
      }
      clearTimeout(timer);
      const base = `http://127.0.0.1:${port}`;
      return {
        output,
        base,
        stop: async () => {
          proc.kill('SIGTERM');
          await proc.exited;
          output += await new Response(proc.stderr).text();
          reader.releaseLock();
          await testDb.drop();
          return output;
        },
      };
    } catch (error) {
      proc.kill('SIGKILL');
      await testDb.drop();
      throw error;
    }
  }

  const warnings = (output: string) =>
    output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .filter((l) => l.level === 'warn');

  test('without API_KEYS it warns that writes are open', async () => {
    const server = await startUp({});
    try {
      expect(server.output).toContain('"listening"');
      expect(warnings(server.output).map((l) => l.msg)).toEqual([expect.stringMatching(/API_KEYS.*writes are open/)]);
    } finally {
      await server.stop();
    }
  }, 20_000);

  test('with API_KEYS it does not warn, enforces the keys, and prints no key', async () => {
    const server = await startUp({ API_KEYS: KEYS.join(',') });
    try {
      expect(server.output).toContain('"listening"');
      expect(warnings(server.output)).toEqual([]);
      const refused = await documentedFetch(`${server.base}/products`, {
        method: 'POST',
        headers: json,
        body: '{"name":"Real","price":1}',
      });
      await expectUnauthorized(refused);
      const accepted = await documentedFetch(`${server.base}/products`, {
        method: 'POST',
        headers: { ...json, ...bearer(K2) },
        body: '{"name":"Real","price":1}',
      });
      expect(accepted.status).toBe(201);
    } finally {
      const output = await server.stop();
      expect(output).not.toContain(K1);
      expect(output).not.toContain(K2);
    }
  }, 20_000);
});
