/**
 * Size limits: bodies over 64 KiB (413), URLs over 8 KiB (414) and header
 * blocks over 16 KiB (431) are refused before any work is done, in-process
 * and over a real socket, where a body is refused while it still streams in.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from '../../src/app.ts';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { createPool } from '../../src/db.ts';
import { SERVER_HEADER_BYTES } from '../../src/http/middleware.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestApp, listen, type TestApp } from '../support/app.ts';
import { checkedApp, documentedFetch } from '../support/contract.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { expectProblem } from '../support/problem.ts';

const BODY_LIMIT = 64 * 1024;
const URL_LIMIT = 8 * 1024;
const HEADER_LIMIT = 16 * 1024;

let t: TestApp;
let server: ReturnType<typeof listen>;
beforeAll(async () => {
  t = await createTestApp();
  server = listen(t.app);
});
afterAll(async () => {
  server?.stop();
  await t?.close();
});

/** A product body of exactly `size` bytes: valid JSON, padded with whitespace. */
function productBodyOfSize(size: number, name: string): string {
  const core = JSON.stringify({ name, price: 1 });
  return core.slice(0, -1) + ' '.repeat(size - core.length) + '}';
}

async function productCount(): Promise<number> {
  const [row] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM products`;
  return row!.n;
}

/**
 * A body that would stream `total` bytes in 16 KiB chunks, without a
 * Content-Length; `pulled` tells how much of it the server has asked for.
 */
function countingStream(total: number) {
  const chunk = new Uint8Array(16 * 1024).fill(0x20);
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled >= total) return controller.close();
      state.pulled += chunk.length;
      controller.enqueue(chunk);
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

/** Sends raw bytes on a fresh TCP connection and returns the first response head the server writes. */
function rawExchange(port: number, head: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const timer = setTimeout(
      () => reject(new Error(`no response within ${timeoutMs} ms; got ${JSON.stringify(received)}`)),
      timeoutMs,
    );
    Bun.connect({
      hostname: '127.0.0.1',
      port,
      socket: {
        open(socket) {
          socket.write(head);
        },
        data(socket, data) {
          received += new TextDecoder().decode(data);
          if (received.includes('\r\n\r\n')) {
            clearTimeout(timer);
            socket.end();
            resolve(received);
          }
        },
        error(_socket, error) {
          clearTimeout(timer);
          reject(error);
        },
      },
    }).catch(reject);
  });
}

describe('request bodies', () => {
  test('exactly 64 KiB is accepted; one byte more is 413 payload_too_large and nothing is written', async () => {
    const atLimit = await t.request('/products', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: productBodyOfSize(BODY_LIMIT, 'At the limit'),
    });
    expect(atLimit.status).toBe(201);
    const before = await productCount();
    const over = await t.request('/products', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: productBodyOfSize(BODY_LIMIT + 1, 'Over the limit'),
    });
    await expectProblem(over, 413, 'payload_too_large');
    expect(await productCount()).toBe(before);
  });

  test('a Content-Length over the limit is refused at once, before any of the body is sent', async () => {
    const head = [
      'POST /products HTTP/1.1',
      `Host: 127.0.0.1:${new URL(server.base).port}`,
      'Content-Type: application/json',
      `Content-Length: ${50 * 1024 * 1024}`,
      '',
      '',
    ].join('\r\n');
    const response = await rawExchange(Number(new URL(server.base).port), head);
    expect(response).toStartWith('HTTP/1.1 413');
    expect(response.toLowerCase()).toContain('content-type: application/problem+json');
  });

  test('over a socket with Content-Length: 413 problem document', async () => {
    const body = productBodyOfSize(BODY_LIMIT + 1024, 'Socket over');
    const res = await documentedFetch(`${server.base}/products`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      body,
    });
    await expectProblem(res, 413, 'payload_too_large');
  });

  test('a chunked body without Content-Length is refused with 413 long before its 50 MB are read', async () => {
    const { stream, state } = countingStream(50 * 1024 * 1024);
    const res = await documentedFetch(`${server.base}/products`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    const pulledWhenAnswered = state.pulled;
    await expectProblem(res, 413, 'payload_too_large');
    // The server answered after reading a few chunks past 64 KiB, not the whole stream.
    expect(pulledWhenAnswered).toBeGreaterThan(BODY_LIMIT);
    expect(pulledWhenAnswered).toBeLessThan(2 * 1024 * 1024);
    await stream.cancel().catch(() => {});
  });

  test('the same limit holds for PATCH, stock adjustments and categories, and for bodies nobody expects', async () => {
    const body = productBodyOfSize(BODY_LIMIT + 1, 'x');
    for (const [method, path] of [
      ['PATCH', '/products/1'],
      ['POST', '/products/1/stock-adjustments'],
      ['POST', '/categories'],
      ['DELETE', '/products/1'],
      ['POST', '/products/1/restore'],
    ] as const) {
      const res = await t.request(path, { method, headers: { 'content-type': 'application/json' }, body });
      await expectProblem(res, 413, 'payload_too_large');
    }
  });
});

describe('URLs', () => {
  const pathOfLength = (length: number) => {
    const prefix = '/products?category=';
    return prefix + 'a'.repeat(length - prefix.length);
  };

  test('a URL over 8 KiB is 414 uri_too_long, in-process and over a socket', async () => {
    await expectProblem(await t.request(pathOfLength(URL_LIMIT + 10)), 414, 'uri_too_long');
    await expectProblem(await documentedFetch(server.base + pathOfLength(URL_LIMIT + 10)), 414, 'uri_too_long');
    await expectProblem(await t.request(`/products/${'1'.repeat(URL_LIMIT)}`), 414, 'uri_too_long');
  });

  test('a URL just under 8 KiB is served (the category is too long: 422, not 414)', async () => {
    const res = await t.request(pathOfLength(URL_LIMIT - 100));
    await expectProblem(res, 422, 'validation_failed');
  });

  test('a URL over 8 KiB is refused before authentication, rate limiting or the database', async () => {
    // An app that would answer 401 (keys), 429 (limit of 1) and 503 (no database) to anything that got further.
    const port = await freePort();
    const deadPool = createPool({
      databaseUrl: `postgres://nobody:nothing@127.0.0.1:${port}/none`,
      poolMax: 1,
      connectTimeoutMs: 500,
    });
    try {
      const guarded = checkedApp(
        createApp({
          sql: deadPool,
          config: { apiKeys: ['k1-0123456789abcdef'], readsRequireKey: true, rateLimitMax: 1 },
          logger: createLogger('silent'),
        }),
      );
      await expectProblem(await guarded.request(pathOfLength(URL_LIMIT * 4), { method: 'DELETE' }), 414, 'uri_too_long');
      // A URL of normal length goes further: to the rate limit, which needs the (dead) database.
      await expectProblem(await guarded.request('/products', { method: 'DELETE' }), 503, 'database_unavailable');
    } finally {
      await deadPool.end({ timeout: 1 });
    }
  });
});

describe('header blocks', () => {
  test('over 16 KiB in-process is 431 request_header_fields_too_large', async () => {
    const res = await t.request('/products', { headers: { 'x-padding': 'a'.repeat(HEADER_LIMIT + 1) } });
    await expectProblem(res, 431, 'request_header_fields_too_large');
    const many = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-h${i}`, 'b'.repeat(100)]));
    await expectProblem(await t.request('/healthz', { headers: many }), 431, 'request_header_fields_too_large');
  });

  test('just under 16 KiB is served', async () => {
    const res = await t.request('/healthz', { headers: { 'x-padding': 'a'.repeat(HEADER_LIMIT - 1024) } });
    expect(res.status).toBe(200);
  });

  test('run.sh, the Docker image and `bun run serve` give Bun the header limit the app expects', () => {
    const flag = `--max-http-header-size=${SERVER_HEADER_BYTES}`;
    const root = join(import.meta.dir, '../..');
    expect(SERVER_HEADER_BYTES).toBeGreaterThan(URL_LIMIT + HEADER_LIMIT);
    expect(readFileSync(join(root, 'run.sh'), 'utf8')).toContain(`export BUN_OPTIONS="${flag}`);
    expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).toMatch(new RegExp(`^ENV .*BUN_OPTIONS=${flag}`, 'm'));
    expect(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.serve).toBe(`bun ${flag} src/server.ts`);
  });

  test('started without the flag, the server warns that Bun would refuse heads over 16 KiB itself; with it, it does not', async () => {
    const warningsAtStart = async (args: string[]) => {
      const proc = Bun.spawn([process.execPath, ...args, 'src/server.ts'], {
        cwd: join(import.meta.dir, '../..'),
        env: {
          PATH: process.env.PATH,
          DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
          PORT: String(await freePort()),
          HOST: '127.0.0.1',
          LOG_FORMAT: 'json',
          API_KEYS: 'k1-0123456789abcdef',
        },
        stdout: 'pipe',
        stderr: 'ignore',
      });
      let output = '';
      const decoder = new TextDecoder();
      for await (const chunk of proc.stdout) {
        output += decoder.decode(chunk);
        if (output.includes('"listening"')) break;
      }
      proc.kill('SIGTERM');
      await proc.exited;
      return output
        .split('\n')
        .filter((line) => line.includes('"warn"'))
        .map((line) => JSON.parse(line).msg as string);
    };
    expect(await warningsAtStart([])).toEqual([expect.stringContaining('start it as `bun --max-http-header-size=65536`')]);
    expect(await warningsAtStart([`--max-http-header-size=${SERVER_HEADER_BYTES}`])).toEqual([]);
  }, 20_000);
});

describe('limits over a socket, on the service as ./run.sh starts it', () => {
  let db: TestDatabase;
  let proc: Bun.Subprocess | undefined;
  let base: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    const port = await freePort();
    proc = Bun.spawn(['./run.sh'], {
      cwd: join(import.meta.dir, '../..'),
      // Migrations as the owner, the API as inventory_api: as ./run.sh is run against a server of one's own.
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: db.url,
        MIGRATION_DATABASE_URL: db.adminUrl,
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'warn',
      },
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'inherit',
    });
    base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && proc.exitCode === null) {
      if (
        await documentedFetch(`${base}/readyz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return;
      await Bun.sleep(100);
    }
    throw new Error(`./run.sh did not become ready (exit code ${proc.exitCode})`);
  }, 40_000);
  afterAll(async () => {
    proc?.kill('SIGTERM');
    await proc?.exited;
    await db?.drop();
  });

  test('a header block over 16 KiB is our 431 problem document, with the security headers and X-Request-Id', async () => {
    for (const size of [HEADER_LIMIT + 1, 20 * 1024, 48 * 1024]) {
      const res = await documentedFetch(`${base}/products`, { headers: { 'x-padding': 'a'.repeat(size) } });
      await expectProblem(res, 431, 'request_header_fields_too_large');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  test('a URL over 16 KiB is our 414 uri_too_long, not a 431 from the HTTP server', async () => {
    const res = await documentedFetch(`${base}/products?category=${'a'.repeat(HEADER_LIMIT + 100)}`);
    await expectProblem(res, 414, 'uri_too_long');
  });

  test('a header block just under 16 KiB is served', async () => {
    const res = await documentedFetch(`${base}/healthz`, { headers: { 'x-padding': 'a'.repeat(HEADER_LIMIT - 1024) } });
    expect(res.status).toBe(200);
  });
});
