/**
 * Each route declares who needs a key (`security`) and whether it runs behind
 * the pool gate and the rate limit, and the service does what the document
 * says it declared: for every operation of /openapi.json, a request without a
 * key is refused 401 exactly when the operation's security requires one, and
 * the pool gate holds back exactly the operations documented with 429/503
 * (the probes and the document answer while every slot is taken).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createApp, type App } from '../../src/app.ts';
import type { Config } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { checkedApp, contractDocument, type OpenApi } from '../support/contract.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { within } from '../support/time.ts';

const KEY = 'k1-0123456789abcdef';

let db: TestDatabase;
let doc: OpenApi;
beforeAll(async () => {
  db = await createTestDatabase();
  doc = await contractDocument();
});
afterAll(async () => {
  await db?.drop();
});

const appWith = (config: Partial<Config>): App => checkedApp(createApp({ sql: db.sql, config, logger: createLogger('silent') }));

type Security = Record<string, string[]>[];

function operations() {
  return Object.entries(doc.paths).flatMap(([template, item]) =>
    Object.entries<Record<string, any>>(item).map(([method, operation]) => ({
      name: `${method.toUpperCase()} ${template}`,
      method: method.toUpperCase(),
      path: template.replace(/\{[^}]+\}/g, '1'),
      security: operation.security as Security | undefined,
      pooled: '429' in operation.responses && '503' in operation.responses,
    })),
  );
}

const optional = (security: Security) => security.some((requirement) => Object.keys(requirement).length === 0);

describe('declared security', () => {
  test('every operation declares its security, and documents 401 exactly when it names a scheme', () => {
    const wrong = operations()
      .filter(({ security }) => !Array.isArray(security))
      .map(({ name }) => `${name}: no security`);
    for (const { name, security } of operations()) {
      const documented401 = '401' in doc.paths[name.split(' ')[1]!]![name.split(' ')[0]!.toLowerCase()]!.responses;
      if (security && documented401 !== security.length > 0)
        wrong.push(`${name}: 401 documented ${documented401}, security ${JSON.stringify(security)}`);
    }
    expect(wrong).toEqual([]);
    // The probes are declared open; writes need a key; reads take one optionally.
    const byName = Object.fromEntries(operations().map((o) => [o.name, o.security]));
    expect(byName['GET /healthz']).toEqual([]);
    expect(byName['POST /products']).toEqual([{ apiKey: [] }]);
    expect(byName['GET /products']).toEqual([{ apiKey: [] }, {}]);
  });

  for (const readsRequireKey of [false, true]) {
    test(`with API_KEYS${readsRequireKey ? ' and API_READS_REQUIRE_KEY' : ''}, a request without a key is 401 exactly when the operation's security requires one`, async () => {
      const app = appWith({ apiKeys: [KEY], readsRequireKey });
      const disagree: string[] = [];
      for (const { name, method, path, security } of operations()) {
        const required = security!.length > 0 && (readsRequireKey || !optional(security!));
        const res = await app.request(path, {
          method,
          ...(method === 'GET' ? {} : { headers: { 'content-type': 'application/json' }, body: '{}' }),
        });
        if ((res.status === 401) !== required) disagree.push(`${name}: ${res.status}, security ${JSON.stringify(security)}`);
      }
      expect(disagree).toEqual([]);
    });
  }
});

describe('declared use of the pool', () => {
  test('with every connection slot taken, the operations documented as pooled wait and get 503; the others answer at once', async () => {
    const app = appWith({ poolMax: 1, poolWaitMs: 300 });
    // A write whose body has not all arrived holds the only slot (the gate lets it in before its body is read).
    const sent = ['{"name": "Held the slot"', ', "price": 1}'];
    let finish!: () => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(sent[0]));
        finish = () => {
          controller.enqueue(new TextEncoder().encode(sent[1]));
          controller.close();
        };
      },
    });
    const headers = { 'content-type': 'application/json', 'content-length': String(sent.join('').length) };
    const held = app.request('/products', { method: 'POST', headers, body, duplex: 'half' } as RequestInit);
    const deadline = Date.now() + 5000;
    while (app.poolStats().inUse < 1 && Date.now() < deadline) await Bun.sleep(5);
    expect(app.poolStats()).toMatchObject({ inUse: 1, size: 1 });

    const answers = await Promise.all(
      operations().map(async ({ name, method, path, pooled }) => {
        const res = await app.request(
          path,
          method === 'GET' ? {} : { method, headers: { 'content-type': 'application/json' }, body: '{}' },
        );
        const refused = res.status === 503 && ((await res.json()) as { code: string }).code === 'database_unavailable';
        return { name, pooled, refused };
      }),
    );
    expect(answers.filter(({ pooled, refused }) => pooled !== refused)).toEqual([]);
    expect(
      answers
        .filter(({ pooled }) => !pooled)
        .map(({ name }) => name)
        .sort(),
    ).toEqual(['GET /healthz', 'GET /metrics', 'GET /readyz']);
    // The document and the explorer, outside the document, take no slot either.
    for (const path of ['/openapi.json', '/docs']) expect((await within(200, app.request(path))).status).toBe(200);

    finish();
    expect((await held).status).toBe(201);
    expect(app.poolStats()).toEqual({ inUse: 0, waiting: 0, size: 1 });
  });
});
