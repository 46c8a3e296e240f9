/**
 * Rate limiting: off by default; with a limit, the request after it is 429
 * with Retry-After; clients are counted apart; the count lives in PostgreSQL,
 * so every API process shares it; and a client cannot pick a fresh count.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createApp, type App } from '../../src/app.ts';
import { checkedApp, documentedFetch } from '../support/contract.ts';
import type { Config } from '../../src/config.ts';
import { createPool, type Pool } from '../../src/db.ts';
import { createLogger } from '../../src/logger.ts';
import { listen } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

const LIMIT = { rateLimitMax: 5, rateLimitWindowS: 60 };
const K1 = 'k1-0123456789abcdef';
const K2 = 'k2-0123456789abcdef';

let db: TestDatabase;
const pools: Pool[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
  await db?.drop();
});

const appWith = (config: Partial<Config>, sql: Pool = db.sql): App => checkedApp(createApp({ sql, config, logger: createLogger('silent') }));

/** A second pool on the same database: what another API process would open. */
function anotherProcessPool(): Pool {
  const pool = createPool({ databaseUrl: db.url, poolMax: 2 });
  pools.push(pool);
  return pool;
}

async function expectRateLimited(res: Response, windowS: number) {
  expect(res.status).toBe(429);
  expect(res.headers.get('content-type')).toStartWith('application/problem+json');
  expect(await res.json()).toEqual(expect.objectContaining({ status: 429, code: 'rate_limited', detail: expect.any(String) }));
  const retryAfter = res.headers.get('retry-after') ?? '';
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  expect(Number(retryAfter)).toBeLessThanOrEqual(windowS);
}

/**
 * Runs a scenario on fresh counters, again once if its requests straddled
 * the start of a new fixed window (which legitimately resets every count).
 */
async function inOneWindow(scenario: () => Promise<void>) {
  for (let attempt = 1; ; attempt++) {
    await db.sql`DELETE FROM rate_limit_counters`;
    let failure: unknown;
    try {
      await scenario();
    } catch (error) {
      failure = error;
    }
    const [row] = await db.sql<{ windows: number }[]>`SELECT count(DISTINCT window_start)::int AS windows FROM rate_limit_counters`;
    if (row!.windows <= 1 || attempt === 2) {
      if (failure) throw failure;
      return;
    }
  }
}

const statuses = async (send: () => Response | Promise<Response>, n: number) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send()).status);
  return out;
};

describe('off by default', () => {
  test('100 quick requests from one client, none 429', async () => {
    const app = appWith({});
    const got = await statuses(() => app.request('/products'), 100);
    expect(got.filter((s) => s === 429)).toEqual([]);
    expect(new Set(got)).toEqual(new Set([200]));
    const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM rate_limit_counters`;
    expect(row!.n).toBe(0);
  });
});

describe('with a limit of 5 per 60 s', () => {
  test('the 6th request from a client is 429 rate_limited with Retry-After; the first 5 carry RateLimit headers', async () => {
    const app = appWith(LIMIT);
    await inOneWindow(async () => {
      for (let i = 1; i <= 5; i++) {
        const res = await app.request('/products');
        expect(res.status).toBe(200);
        expect(res.headers.get('ratelimit-limit')).toBe('5');
        expect(res.headers.get('ratelimit-remaining')).toBe(String(5 - i));
      }
      await expectRateLimited(await app.request('/products'), 60);
      // Writes count and are refused too, and refused requests write nothing.
      const write = await app.request('/products', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Late","price":1}' });
      await expectRateLimited(write, 60);
    });
    const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM products WHERE name = 'Late'`;
    expect(row!.n).toBe(0);
  });

  test('the probes and the docs are never limited', async () => {
    const app = appWith(LIMIT);
    await inOneWindow(async () => {
      await statuses(() => app.request('/products'), 6);
      for (const path of ['/healthz', '/readyz', '/openapi.json', '/docs']) {
        expect(await statuses(() => app.request(path), 3)).toEqual([200, 200, 200]);
      }
    });
  });

  test('clients with different API keys are counted separately', async () => {
    const app = appWith({ ...LIMIT, apiKeys: [K1, K2] });
    await inOneWindow(async () => {
      const one = () => app.request('/products', { headers: { authorization: `Bearer ${K1}` } });
      const two = () => app.request('/products', { headers: { authorization: `Bearer ${K2}` } });
      expect(await statuses(one, 5)).toEqual([200, 200, 200, 200, 200]);
      expect(await statuses(two, 5)).toEqual([200, 200, 200, 200, 200]);
      await expectRateLimited(await one(), 60);
      await expectRateLimited(await two(), 60);
    });
  });

  test('a client keeps its count when the key list changes order (a process restarted with keys added)', async () => {
    const before = appWith({ ...LIMIT, apiKeys: [K1, K2] });
    const after = appWith({ ...LIMIT, apiKeys: [K2, K1] });
    await inOneWindow(async () => {
      const as = (app: App) => () => app.request('/products', { headers: { authorization: `Bearer ${K1}` } });
      expect(await statuses(as(before), 3)).toEqual([200, 200, 200]);
      expect(await statuses(as(after), 2)).toEqual([200, 200]);
      await expectRateLimited(await as(after)(), 60);
      // K2 was never used: its count is untouched, whatever its position.
      expect((await after.request('/products', { headers: { authorization: `Bearer ${K2}` } })).status).toBe(200);
    });
  });

  test('two API processes on one database share the count: 3 + 3 requests, the 6th is 429', async () => {
    const first = appWith(LIMIT, anotherProcessPool());
    const second = appWith(LIMIT, anotherProcessPool());
    await inOneWindow(async () => {
      expect(await statuses(() => first.request('/products'), 3)).toEqual([200, 200, 200]);
      expect(await statuses(() => second.request('/products'), 2)).toEqual([200, 200]);
      await expectRateLimited(await second.request('/products'), 60);
      await expectRateLimited(await first.request('/products'), 60);
    });
  });

  test('concurrent requests are counted exactly: 20 at once, 5 pass', async () => {
    const app = appWith(LIMIT);
    await inOneWindow(async () => {
      const got = await Promise.all(Array.from({ length: 20 }, () => Promise.resolve(app.request('/products')).then((r) => r.status)));
      expect(got.filter((s) => s === 200)).toHaveLength(5);
      expect(got.filter((s) => s === 429)).toHaveLength(15);
    });
  });
});

describe('a client cannot choose a fresh count', () => {
  test('over a socket, X-Forwarded-For is ignored unless trustProxy is set', async () => {
    const server = listen(appWith(LIMIT));
    try {
      await inOneWindow(async () => {
        const got = await statuses(
          () => documentedFetch(`${server.base}/products`, { headers: { 'x-forwarded-for': `203.0.113.${Math.floor(Math.random() * 250)}` } }),
          6,
        );
        expect(got).toEqual([200, 200, 200, 200, 200, 429]);
      });
    } finally {
      server.stop();
    }
  });

  test('behind a trusted proxy, each forwarded address is its own client', async () => {
    const server = listen(appWith({ ...LIMIT, trustProxy: true }));
    try {
      await inOneWindow(async () => {
        const from = (ip: string) => () => documentedFetch(`${server.base}/products`, { headers: { 'x-forwarded-for': ip } });
        expect(await statuses(from('203.0.113.7'), 6)).toEqual([200, 200, 200, 200, 200, 429]);
        expect(await statuses(from('198.51.100.9'), 5)).toEqual([200, 200, 200, 200, 200]);
      });
    } finally {
      server.stop();
    }
  });

  test('behind a trusted proxy that appends the address it saw, what the client wrote before it does not pick the count', async () => {
    // nginx ($proxy_add_x_forwarded_for), ALB and most proxies append: the last entry is the one the proxy vouches for.
    const server = listen(appWith({ ...LIMIT, trustProxy: true }));
    try {
      await inOneWindow(async () => {
        let n = 0;
        const got = await statuses(
          () => documentedFetch(`${server.base}/products`, { headers: { 'x-forwarded-for': `192.0.2.${n++}, 198.51.100.9` } }),
          6,
        );
        expect(got).toEqual([200, 200, 200, 200, 200, 429]);
      });
    } finally {
      server.stop();
    }
  });

  test('behind a trusted proxy, a long X-Forwarded-For is served, counted by its last entry', async () => {
    const server = listen(appWith({ ...LIMIT, trustProxy: true }));
    try {
      await db.sql`DELETE FROM rate_limit_counters`;
      const opaque = Buffer.from(crypto.getRandomValues(new Uint8Array(3000))).toString('base64url');
      const seen = [];
      for (const xff of [opaque, `${opaque}, 198.51.100.9`, `198.51.100.9, ${opaque}`]) {
        const res = await documentedFetch(`${server.base}/products`, { headers: { 'x-forwarded-for': xff } });
        seen.push(`${res.status} ${res.headers.get('ratelimit-remaining')}`);
      }
      // The opaque address (hashed to fit) and 198.51.100.9 are two clients; the third request is the first's again.
      expect(seen).toEqual(['200 4', '200 4', '200 3']);
    } finally {
      server.stop();
    }
  });

  const keyConfigs: [string, Partial<Config>][] = [['with keys configured', { apiKeys: [K1, K2] }], ['without keys', {}]];
  for (const [label, config] of keyConfigs) {
    test(`${label}, made-up bearer tokens on reads do not each get a fresh count`, async () => {
      // A token that is not a configured key proves nothing about who sends it (reads are open);
      // counting by it lets one client rotate tokens and never be limited.
      const server = listen(appWith({ ...LIMIT, ...config }));
      try {
        await inOneWindow(async () => {
          let n = 0;
          const got = await statuses(
            () => documentedFetch(`${server.base}/products`, { headers: { authorization: `Bearer made-up-token-${n++}` } }),
            6,
          );
          expect(got).toEqual([200, 200, 200, 200, 200, 429]);
        });
      } finally {
        server.stop();
      }
    });
  }

  test('with keys configured, guessing keys is rate limited too', async () => {
    const server = listen(appWith({ ...LIMIT, apiKeys: [K1, K2] }));
    try {
      await inOneWindow(async () => {
        let n = 0;
        const got = await statuses(
          () => documentedFetch(`${server.base}/products`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer guess-${n++}-0123456789` },
            body: '{"name":"Guess","price":1}',
          }),
          10,
        );
        expect(got.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
        expect(got.slice(5)).toContain(429);
      });
    } finally {
      server.stop();
    }
  });
});
