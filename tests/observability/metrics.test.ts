import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createApp } from '../../src/app.ts';
import { checkedApp } from '../support/contract.ts';
import { createPool } from '../../src/db.ts';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const scrape = async (app: { request: (p: string) => Response | Promise<Response> }) => {
  const res = await app.request('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
};

/** The value of one sample line, e.g. sample(text, 'http_requests_total{method="GET",route="/products",status="200"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  test('counts requests by route pattern, method and status, with a latency histogram', async () => {
    await t.post('/products', { name: 'Metered', price: 1 });
    const created = await t.post('/products', { name: 'Metered', price: 1 });
    expect(created.status).toBe(409);
    const product = await t.post('/products', { name: 'Metered 2', price: 1 });
    const { id } = (await product.json()) as { id: number };
    await t.request(`/products/${id}`);
    await t.request(`/products/${id + 1000}`);
    await t.request('/no/such/route');
    const text = await scrape(t.app);
    expect(sample(text, 'http_requests_total{method="POST",route="/products",status="201"}')).toBe(2);
    expect(sample(text, 'http_requests_total{method="POST",route="/products",status="409"}')).toBe(1);
    expect(sample(text, 'http_requests_total{method="GET",route="/products/:id",status="200"}')).toBe(1);
    expect(sample(text, 'http_requests_total{method="GET",route="/products/:id",status="404"}')).toBe(1);
    expect(sample(text, 'http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1);
    expect(sample(text, 'http_request_duration_seconds_count{method="POST",route="/products",status="201"}')).toBe(2);
    expect(text).toContain('http_request_duration_seconds_bucket{le="0.005",method="POST",route="/products",status="201"}');
  });

  test('reports the pool size, connections in use and requests waiting', async () => {
    const text = await scrape(t.app);
    expect(sample(text, 'db_pool_size')).toBe(10);
    expect(sample(text, 'db_pool_in_use')).toBe(0);
    expect(sample(text, 'db_pool_waiting')).toBe(0);
  });

  test('reports build info', async () => {
    const text = await scrape(t.app);
    expect(text).toMatch(/build_info\{version="\d+\.\d+\.\d+",bun="\d+\.\d+\.\d+"\} 1/);
  });

  test('counts database errors by class', async () => {
    const down = createPool({
      databaseUrl: `postgres://x:y@127.0.0.1:${await freePort()}/none`,
      poolMax: 1,
      connectTimeoutMs: 500,
    });
    const app = checkedApp(createApp({ sql: down, logger: createLogger('silent') }));
    expect((await app.request('/products')).status).toBe(503);
    expect(sample(await scrape(app), 'db_errors_total{class="connection"}')).toBe(1);
    await down.end();
    const before = sample(await scrape(t.app), 'db_errors_total{class="23"}') ?? 0;
    await t.post('/products', { name: 'Unique twice', price: 1, sku: 'UT-1' });
    await t.post('/products', { name: 'Unique twice 2', price: 1, sku: 'ut-1' });
    expect(sample(await scrape(t.app), 'db_errors_total{class="23"}')).toBe(before + 1);
  });
});
