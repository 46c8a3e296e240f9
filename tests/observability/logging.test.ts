import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createApp } from '../../src/app.ts';
import { checkedApp } from '../support/contract.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
const lines: string[] = [];
let app: ReturnType<typeof createApp>;
beforeAll(async () => {
  db = await createTestDatabase();
  app = checkedApp(createApp({ sql: db.sql, logger: createLogger('info', (line) => lines.push(line)) }));
});
afterAll(async () => {
  await db.drop();
});

describe('request log', () => {
  test('writes one JSON line per request with method, path, status, duration and request id', async () => {
    lines.length = 0;
    const res = await app.request('/products?limit=1', { headers: { 'x-request-id': 'trace-abc.123' } });
    expect(res.headers.get('x-request-id')).toBe('trace-abc.123');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({
      level: 'info',
      msg: 'request',
      method: 'GET',
      path: '/products',
      status: 200,
      request_id: 'trace-abc.123',
    });
    expect(typeof entry.duration_ms).toBe('number');
    expect(new Date(entry.time).toISOString()).toBe(entry.time);
  });

  test('generates a request id when none (or an unsafe one) is sent', async () => {
    lines.length = 0;
    const res = await app.request('/healthz', { headers: { 'x-request-id': 'bad id with spaces and {json}' } });
    const id = res.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(lines[0]!).request_id).toBe(id);
  });

  test('logs refused requests with their status', async () => {
    lines.length = 0;
    await app.request('/products', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    expect(JSON.parse(lines[0]!)).toMatchObject({ method: 'POST', status: 400 });
  });
});

describe('log format', () => {
  test('pretty format is one readable line', () => {
    const out: string[] = [];
    createLogger('info', (l) => out.push(l), 'pretty').info('request', { method: 'GET', status: 200 });
    expect(out[0]).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} INFO  request method=GET status=200$/);
  });

  test('levels below the threshold are dropped', () => {
    const out: string[] = [];
    const logger = createLogger('warn', (l) => out.push(l));
    logger.info('hidden');
    logger.warn('shown');
    expect(out.map((l) => JSON.parse(l).msg)).toEqual(['shown']);
  });
});
