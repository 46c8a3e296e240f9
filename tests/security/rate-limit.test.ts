/**
 * Rate limiting: off by default; with a limit, the request after it is 429
 * with Retry-After; clients are counted apart; the count lives in PostgreSQL,
 * so every API process shares it, exactly; a client over its limit is refused
 * from memory before it takes a connection slot, so a flood starves no one;
 * and a client cannot pick a fresh count.
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

const appWith = (config: Partial<Config>, sql: Pool = db.sql): App =>
  checkedApp(createApp({ sql, config, logger: createLogger('silent') }));

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
 * Scenarios create their apps: a process remembers who is over in a window.
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
    const [row] = await db.sql<
      { windows: number }[]
    >`SELECT count(DISTINCT window_start)::int AS windows FROM rate_limit_counters`;
    if (row!.windows <= 1 || attempt === 2) {
      if (failure) throw failure;
      return;
    }
  }
}

/** Waits, bounded, until `condition` holds. */
async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
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
    await inOneWindow(async () => {
      const app = appWith(LIMIT);
      for (let i = 1; i <= 5; i++) {
        const res = await app.request('/products');
        expect(res.status).toBe(200);
        expect(res.headers.get('ratelimit-limit')).toBe('5');
        expect(res.headers.get('ratelimit-remaining')).toBe(String(5 - i));
      }
      await expectRateLimited(await app.request('/products'), 60);
      // Writes count and are refused too, and refused requests write nothing.
      const write = await app.request('/products', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name":"Late","price":1}',
      });
      await expectRateLimited(write, 60);
    });
    const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM products WHERE name = 'Late'`;
    expect(row!.n).toBe(0);
  });

  test('the probes and the docs are never limited', async () => {
    await inOneWindow(async () => {
      const app = appWith(LIMIT);
      await statuses(() => app.request('/products'), 6);
      for (const path of ['/healthz', '/readyz', '/openapi.json', '/docs']) {
        expect(await statuses(() => app.request(path), 3)).toEqual([200, 200, 200]);
      }
    });
  });

  test('clients with different API keys are counted separately', async () => {
    await inOneWindow(async () => {
      const app = appWith({ ...LIMIT, apiKeys: [K1, K2] });
      const one = () => app.request('/products', { headers: { authorization: `Bearer ${K1}` } });
      const two = () => app.request('/products', { headers: { authorization: `Bearer ${K2}` } });
      expect(await statuses(one, 5)).toEqual([200, 200, 200, 200, 200]);
      expect(await statuses(two, 5)).toEqual([200, 200, 200, 200, 200]);
      await expectRateLimited(await one(), 60);
      await expectRateLimited(await two(), 60);
    });
  });

  test('a client keeps its count when the key list changes order (a process restarted with keys added)', async () => {
    await inOneWindow(async () => {
      const before = appWith({ ...LIMIT, apiKeys: [K1, K2] });
      const after = appWith({ ...LIMIT, apiKeys: [K2, K1] });
      const as = (app: App) => () => app.request('/products', { headers: { authorization: `Bearer ${K1}` } });
      expect(await statuses(as(before), 3)).toEqual([200, 200, 200]);
      expect(await statuses(as(after), 2)).toEqual([200, 200]);
      await expectRateLimited(await as(after)(), 60);
      // K2 was never used: its count is untouched, whatever its position.
      expect((await after.request('/products', { headers: { authorization: `Bearer ${K2}` } })).status).toBe(200);
    });
  });

  test('two API processes on one database share the count: 3 + 3 requests, the 6th is 429', async () => {
    await inOneWindow(async () => {
      const first = appWith(LIMIT, anotherProcessPool());
      const second = appWith(LIMIT, anotherProcessPool());
      expect(await statuses(() => first.request('/products'), 3)).toEqual([200, 200, 200]);
      expect(await statuses(() => second.request('/products'), 2)).toEqual([200, 200]);
      await expectRateLimited(await second.request('/products'), 60);
      await expectRateLimited(await first.request('/products'), 60);
    });
  });

  test('concurrent requests are counted exactly: 20 at once, 5 pass', async () => {
    await inOneWindow(async () => {
      const app = appWith(LIMIT);
      const got = await Promise.all(
        Array.from({ length: 20 }, () => Promise.resolve(app.request('/products')).then((r) => r.status)),
      );
      expect(got.filter((s) => s === 200)).toHaveLength(5);
      expect(got.filter((s) => s === 429)).toHaveLength(15);
    });
  });
});

describe('counted once per batch, refused from memory, before the pool gate', () => {
  test('two API processes with 20 concurrent requests each: exactly 5 pass in all', async () => {
    await inOneWindow(async () => {
      const first = appWith(LIMIT, anotherProcessPool());
      const second = appWith(LIMIT, anotherProcessPool());
      const burst = (app: App) =>
        Array.from({ length: 20 }, () => Promise.resolve(app.request('/products')).then((r) => r.status));
      const got = await Promise.all([...burst(first), ...burst(second)]);
      expect(got.filter((s) => s === 200)).toHaveLength(5);
      expect(got.filter((s) => s === 429)).toHaveLength(35);
    });
  });

  test('once a client is over, its requests are refused without a statement: the count stops at the limit', async () => {
    await inOneWindow(async () => {
      const app = appWith(LIMIT);
      expect(await statuses(() => app.request('/products'), 12)).toEqual([
        200, 200, 200, 200, 200, 429, 429, 429, 429, 429, 429, 429,
      ]);
      const rows = await db.sql<{ requests: number }[]>`SELECT requests FROM rate_limit_counters`;
      expect(rows.map((r) => r.requests)).toEqual([5]);
    });
  });

  test('a client over its limit is refused at once while every connection slot is taken', async () => {
    // poolMax 2. Requests blocked on a row lock hold the slots; a request that needs one
    // waits for it, and gets 503 after poolWaitMs.
    const pool = createPool({ databaseUrl: db.url, poolMax: 2 });
    pools.push(pool);
    const [product] = await db.sql<{ id: number }[]>`
      WITH c AS (INSERT INTO categories (name) VALUES ('Rate limit') RETURNING id)
      INSERT INTO products (sku, name, price, category_id)
      SELECT 'RL-BLOCKED', 'Rate limit blocked', 1, c.id FROM c RETURNING id::int`;
    const id = product!.id;
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    await inOneWindow(async () => {
      const app = appWith({ ...LIMIT, apiKeys: [K1, K2], poolMax: 2, poolWaitMs: 3000 }, pool);
      expect(await statuses(() => app.request('/products', { headers: as(K1) }), 5)).toEqual([200, 200, 200, 200, 200]);
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holder = db.sql.begin(async (tx) => {
        await tx`SELECT id FROM products WHERE id = ${id} FOR UPDATE`;
        locked();
        await released;
      });
      const blocked: Promise<Response>[] = [];
      try {
        await isLocked;
        // Two requests wait on the row lock: every connection slot is taken (or waited for).
        for (let i = 0; i < 2; i++) {
          blocked.push(
            Promise.resolve(
              app.request(`/products/${id}/stock-adjustments`, {
                method: 'POST',
                headers: { ...as(K2), 'content-type': 'application/json' },
                body: '{"delta":1,"reason":"received"}',
              }),
            ),
          );
        }
        await waitFor('the slots to be taken', () => app.poolStats().inUse + app.poolStats().waiting === 2);
        // K1 is over: answered 429 at once, not after a wait for a slot (held until released).
        await expectRateLimited(await app.request('/products', { headers: as(K1) }), 60);
        expect(app.poolStats().inUse + app.poolStats().waiting).toBe(2);
      } finally {
        release();
        await holder;
      }
      expect(await Promise.all(blocked.map(async (r) => (await r).status))).toEqual([201, 201]);
    });
  });
});

describe('a flooding client', () => {
  test('does not starve another: over a socket, the other client gets only 2xx while one floods past its limit', async () => {
    // A small pool and a 20 ms wait for a slot: a request queued behind the flood is answered 503.
    const pool = createPool({ databaseUrl: db.url, poolMax: 4 });
    pools.push(pool);
    const max = 100;
    await inOneWindow(async () => {
      // A new app each time: a process that knows nothing yet.
      const server = listen(
        appWith({ rateLimitMax: max, rateLimitWindowS: 60, apiKeys: [K1, K2], poolMax: 4, poolWaitMs: 20 }, pool),
      );
      const get = async (key: string) => {
        const res = await fetch(`${server.base}/products?limit=5`, { headers: { authorization: `Bearer ${key}` } });
        await res.arrayBuffer();
        return res.status;
      };
      try {
        const flood: number[] = [];
        const other: number[] = [];
        let flooding = true;
        // Bounded: 300 concurrent loops of at most 100 requests each, for at most 10 s.
        const deadline = Date.now() + 10_000;
        const workers = Array.from({ length: 300 }, async () => {
          for (let i = 0; i < 100 && flooding && Date.now() < deadline; i++) flood.push(await get(K1));
        });
        try {
          // The flood's allowed requests have all been answered; what it sends now is over its limit.
          await waitFor(
            'the flood to pass its limit',
            () => flood.filter((s) => s !== 429).length >= max && flood.includes(429),
            10_000,
          );
          for (let i = 0; i < 40 && Date.now() < deadline; i++) other.push(await get(K2));
        } finally {
          flooding = false;
          await Promise.all(workers);
        }
        expect(other).toHaveLength(40);
        expect(other.filter((s) => s < 200 || s > 299)).toEqual([]);
        expect(flood.filter((s) => s === 429).length).toBeGreaterThan(max);
      } finally {
        server.stop();
      }
    });
  }, 60_000);
});

describe('a client cannot choose a fresh count', () => {
  test('over a socket, X-Forwarded-For is ignored unless trustProxy is set', async () => {
    await inOneWindow(async () => {
      const server = listen(appWith(LIMIT));
      try {
        const got = await statuses(
          () =>
            documentedFetch(`${server.base}/products`, {
              headers: { 'x-forwarded-for': `203.0.113.${Math.floor(Math.random() * 250)}` },
            }),
          6,
        );
        expect(got).toEqual([200, 200, 200, 200, 200, 429]);
      } finally {
        server.stop();
      }
    });
  });

  test('behind a trusted proxy, each forwarded address is its own client', async () => {
    await inOneWindow(async () => {
      const server = listen(appWith({ ...LIMIT, trustProxy: true }));
      try {
        const from = (ip: string) => () => documentedFetch(`${server.base}/products`, { headers: { 'x-forwarded-for': ip } });
        expect(await statuses(from('203.0.113.7'), 6)).toEqual([200, 200, 200, 200, 200, 429]);
        expect(await statuses(from('198.51.100.9'), 5)).toEqual([200, 200, 200, 200, 200]);
      } finally {
        server.stop();
      }
    });
  });

  test('behind a trusted proxy that appends the address it saw, what the client wrote before it does not pick the count', async () => {
    // nginx ($proxy_add_x_forwarded_for), ALB and most proxies append: the last entry is the one the proxy vouches for.
    await inOneWindow(async () => {
      const server = listen(appWith({ ...LIMIT, trustProxy: true }));
      try {
        let n = 0;
        const got = await statuses(
          () => documentedFetch(`${server.base}/products`, { headers: { 'x-forwarded-for': `192.0.2.${n++}, 198.51.100.9` } }),
          6,
        );
        expect(got).toEqual([200, 200, 200, 200, 200, 429]);
      } finally {
        server.stop();
      }
    });
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

  const keyConfigs: [string, Partial<Config>][] = [
    ['with keys configured', { apiKeys: [K1, K2] }],
    ['without keys', {}],
  ];
  for (const [label, config] of keyConfigs) {
    test(`${label}, made-up bearer tokens on reads do not each get a fresh count`, async () => {
      // A token that is not a configured key proves nothing about who sends it (reads are open);
      // counting by it lets one client rotate tokens and never be limited.
      await inOneWindow(async () => {
        const server = listen(appWith({ ...LIMIT, ...config }));
        try {
          let n = 0;
          const got = await statuses(
            () => documentedFetch(`${server.base}/products`, { headers: { authorization: `Bearer made-up-token-${n++}` } }),
            6,
          );
          expect(got).toEqual([200, 200, 200, 200, 200, 429]);
        } finally {
          server.stop();
        }
      });
    });
  }

  test('with keys configured, guessing keys is rate limited too', async () => {
    await inOneWindow(async () => {
      const server = listen(appWith({ ...LIMIT, apiKeys: [K1, K2] }));
      try {
        let n = 0;
        const got = await statuses(
          () =>
            documentedFetch(`${server.base}/products`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer guess-${n++}-0123456789` },
              body: '{"name":"Guess","price":1}',
            }),
          10,
        );
        expect(got.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
        expect(got.slice(5)).toContain(429);
      } finally {
        server.stop();
      }
    });
  });
});
