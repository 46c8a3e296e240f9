/**
 * /openapi.json tells the whole truth about what the middleware answers on
 * every route, shows each status with its own codes, and its request schemas
 * refuse what the service refuses (and accept what it accepts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { problems, type ProblemCode } from '../../src/errors.ts';
import { namePattern } from '../../src/http/name-pattern.ts';
import { MAX_CATEGORY_NAME, name } from '../../src/http/text.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { contractDocument, resolveRef, validate, type OpenApi } from '../support/contract.ts';

let doc: OpenApi;
let t: TestApp;
beforeAll(async () => {
  doc = await contractDocument();
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

function operations() {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries<Record<string, any>>(item).map(([method, operation]) => ({
      path,
      method,
      operation,
      name: `${method.toUpperCase()} ${path}`,
    })),
  );
}

const deref = (node: any) => (node?.$ref ? (resolveRef(doc, node.$ref) as Record<string, any>) : node);
const headerNames = (response: any) => Object.keys(response.headers ?? {});

describe("the middleware's answers are documented on every operation", () => {
  test('414 and 431 everywhere; 413 wherever a body can be sent; 401, 429 and 503 wherever a key, the rate limit and the pool apply', () => {
    const missing: string[] = [];
    for (const { path, method, operation, name } of operations()) {
      const expected = ['414', '431'];
      if (method !== 'get') expected.push('413');
      if (!PROBES.has(path)) expected.push('401', '429', '503');
      for (const status of expected) if (!operation.responses[status]) missing.push(`${name} ${status}`);
    }
    expect(missing).toEqual([]);
  });

  test('every response declares X-Request-Id as required; 401 WWW-Authenticate, 429 and 503 problems Retry-After', () => {
    const wrong: string[] = [];
    for (const { name, operation } of operations()) {
      for (const [status, response] of Object.entries<any>(operation.responses)) {
        if (!deref(response.headers?.['X-Request-Id'])?.required) wrong.push(`${name} ${status}: X-Request-Id`);
        const want = { 401: ['WWW-Authenticate'], 429: ['Retry-After'], 503: ['Retry-After'] }[status] ?? [];
        const isProblem = 'application/problem+json' in (response.content ?? {});
        for (const header of isProblem ? want : []) {
          if (!deref(response.headers?.[header])?.required) wrong.push(`${name} ${status}: ${header}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  test('RateLimit-* on every response of the operations the rate limit counts, Idempotent-Replayed on those taking an Idempotency-Key', () => {
    const wrong: string[] = [];
    for (const { path, name, operation } of operations()) {
      const idempotent = (operation.parameters ?? []).some((p: any) => p.name === 'idempotency-key');
      for (const [status, response] of Object.entries<any>(operation.responses)) {
        const names = headerNames(response);
        const limited = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'].every((h) => names.includes(h));
        if (limited === PROBES.has(path)) wrong.push(`${name} ${status}: RateLimit-*`);
        if (idempotent && /^2/.test(status) && !names.includes('Idempotent-Replayed'))
          wrong.push(`${name} ${status}: Idempotent-Replayed`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('the answers to a request no operation takes are documented: 404 not_found, 405 method_not_allowed with Allow', () => {
    const unrouted = doc['x-unrouted-requests'].responses;
    expect(Object.keys(unrouted)).toEqual(['401', '404', '405', '413', '414', '429', '431', '503']);
    expect(Object.keys(unrouted['405'].content['application/problem+json'].examples)).toEqual(['method_not_allowed']);
    expect(unrouted['405'].headers.Allow.required).toBe(true);
  });
});

describe('problem examples', () => {
  test('each status shows examples of its own codes, every one with that status', () => {
    const wrong: string[] = [];
    const shown = new Set<string>();
    const responses = [
      ...operations().flatMap(({ name, operation }) =>
        Object.entries<any>(operation.responses).map(([s, r]) => [`${name} ${s}`, s, r] as const),
      ),
      ...Object.entries<any>(doc['x-unrouted-requests'].responses).map(([s, r]) => [`unrouted ${s}`, s, r] as const),
    ];
    for (const [where, status, response] of responses) {
      const media = response.content?.['application/problem+json'];
      if (!media) continue;
      const examples = Object.entries<any>(media.examples ?? {});
      if (examples.length === 0) wrong.push(`${where}: no examples`);
      for (const [key, { value }] of examples) {
        shown.add(value.code);
        if (
          value.status !== Number(status) ||
          problems[value.code as ProblemCode]?.status !== Number(status) ||
          key !== value.code
        ) {
          wrong.push(`${where}: example ${key} is ${value.status} ${value.code}`);
        }
        for (const line of validate({ $ref: '#/components/schemas/Problem' }, value, doc)) wrong.push(`${where}: ${line}`);
        if (!response.description.includes(`\`${value.code}\``))
          wrong.push(`${where}: the description does not name ${value.code}`);
      }
    }
    expect(wrong).toEqual([]);
    // Every code the service has is shown somewhere.
    expect([...shown].sort()).toEqual(Object.keys(problems).sort());
  });
});

describe('request schemas refuse what the service refuses', () => {
  const schemaOf = (path: string, method: string) =>
    doc.paths[path]![method]!.requestBody.content['application/json'].schema as Record<string, unknown>;

  /** The schema's verdict and the service's on the same body agree. */
  async function agree(path: string, method: string, send: string, body: Record<string, unknown>, created: number) {
    const schemaErrors = validate(schemaOf(path, method), body, doc);
    const res = await t.request(send, {
      method: method.toUpperCase(),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return {
      body,
      schema: schemaErrors.length === 0 ? 'accepts' : 'refuses',
      service: res.status === created ? 'accepts' : res.status === 422 ? 'refuses' : res.status,
    };
  }

  test('products: blank names and categories, prices with 3 decimals; trimmed names and 2-decimal prices pass', async () => {
    const verdicts = [];
    let n = 0;
    for (const [body, expected] of [
      [{ name: '   ', price: 1 }, 'refuses'],
      [{ name: '\u00a0\t', price: 1 }, 'refuses'],
      [{ name: 'x', price: 1, category: '  ' }, 'refuses'],
      [{ name: 'x', price: '1.234' }, 'refuses'],
      [{ name: 'x', price: '-1' }, 'refuses'],
      [{ name: '  Padded lamp  ', price: 19.99 }, 'accepts'],
      [{ name: 'x', price: '24.90', category: ' Home ' }, 'accepts'],
      [{ name: 'x', price: 0.07 }, 'accepts'],
      [{ name: 'x', price: 99999999.99 }, 'accepts'],
    ] as const) {
      const unique = 'name' in body && body.name === 'x' ? { ...body, name: `Schema agreement ${++n}` } : body;
      const verdict = await agree('/products', 'post', '/products', unique, 201);
      verdicts.push({ ...verdict, expected });
    }
    expect(verdicts.filter((v) => v.schema !== v.service || v.service !== v.expected)).toEqual([]);
  });

  test('stock adjustments: delta 0 is refused by both; 1 and -1 are accepted by both', async () => {
    const created = await t.post('/products', { name: 'Schema agreement stock', price: 1, quantity: 5 });
    const { id } = (await created.json()) as { id: number };
    const verdicts = [];
    for (const [delta, expected] of [
      [0, 'refuses'],
      [1, 'accepts'],
      [-1, 'accepts'],
    ] as const) {
      verdicts.push({
        ...(await agree(
          '/products/{id}/stock-adjustments',
          'post',
          `/products/${id}/stock-adjustments`,
          { delta, reason: 'received' },
          201,
        )),
        expected,
      });
    }
    expect(verdicts.filter((v) => v.schema !== v.service || v.service !== v.expected)).toEqual([]);
  });

  test('categories: a blank name is refused by both; a padded one is accepted by both', async () => {
    const verdicts = [];
    for (const [name, expected] of [
      [' \n ', 'refuses'],
      ['  Schema agreement category  ', 'accepts'],
    ] as const) {
      verdicts.push({ ...(await agree('/categories', 'post', '/categories', { name }, 201)), expected });
    }
    expect(verdicts.filter((v) => v.schema !== v.service || v.service !== v.expected)).toEqual([]);
  });

  test("the name pattern accepts exactly what the service's name rule accepts (property-based)", () => {
    // Short names, so that the length bound is reached too; characters from the edges of every rule.
    const max = 6;
    const pattern = new RegExp(namePattern(max), 'u');
    const rule = name(max);
    const alphabet = fc.constantFrom(
      'a',
      'Z',
      'é',
      '😀',
      ' ',
      '\u00a0',
      '\u3000',
      '\t',
      '\n',
      '\r',
      '\u000b',
      '\u0000',
      '\u0085',
      '\u00ad',
      '\u200b',
      '\u200c',
      '\u200d',
      '\u2028',
      '\u202e',
      '\ufeff',
      '\u{e0041}',
      '\ud800',
      '\udc00',
    );
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 10 }).map((parts) => parts.join('')),
        (value) => {
          expect({ value, schema: pattern.test(value) }).toEqual({ value, schema: rule.safeParse(value).success });
        },
      ),
      { numRuns: 5000, seed: 20261130 },
    );
    // And the real bound, in code points.
    const real = new RegExp(namePattern(MAX_CATEGORY_NAME), 'u');
    for (const value of [
      '😀'.repeat(MAX_CATEGORY_NAME),
      ` ${'a'.repeat(MAX_CATEGORY_NAME)} `,
      'a'.repeat(MAX_CATEGORY_NAME + 1),
    ]) {
      expect({ value, schema: real.test(value) }).toEqual({ value, schema: name(MAX_CATEGORY_NAME).safeParse(value).success });
    }
  });

  test('the descriptions say what JSON Schema cannot: names are trimmed, a price number has at most 2 decimals', async () => {
    const schemas = doc.components.schemas;
    for (const text of [
      schemas.ProductCreate.properties.name.description,
      schemas.ProductCreate.properties.category.description,
      schemas.CategoryCreate.properties.name.description,
    ]) {
      expect(text.toLowerCase()).toContain('trimmed');
    }
    // `multipleOf: 0.01` would make validators refuse 19.99 (0.01 has no exact binary value): the rule is stated instead.
    const priceNumber = schemas.ProductCreate.properties.price.anyOf.find((s: { type: string }) => s.type === 'number');
    expect(priceNumber.description).toBe('At most 2 decimals');
    expect(priceNumber.multipleOf).toBeUndefined();
    expect((await t.post('/products', { name: 'Three decimals', price: 1.234 })).status).toBe(422);
  });
});
