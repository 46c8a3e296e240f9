/**
 * The generated TypeScript client (clients/ts/schema.d.ts + openapi-fetch)
 * against the service on a real socket. Every response the client receives is
 * checked against what /openapi.json documents for it (status, headers, body
 * shape; tests/support/contract.ts), so a document that lies about a response fails these tests.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from '../../clients/ts/schema';
import { createTestApp, listen, type TestApp } from '../support/app.ts';
import { undocumentedAt, validate, type OpenApi } from '../support/contract.ts';
import { SAMPLE_PRODUCT } from '../support/values.ts';

type Product = components['schemas']['Product'];

/** openapi-fetch middleware: every response must be as documented, or the request fails. */
function asDocumented(doc: OpenApi, checked: Set<string>): Middleware {
  return {
    async onResponse({ request, response, schemaPath }) {
      const problems = await undocumentedAt(doc, request.method, schemaPath, response.clone());
      if (problems.length) {
        throw new Error(
          `${request.method} ${schemaPath} → ${response.status} is not as /openapi.json documents it:\n  ${problems.join('\n  ')}`,
        );
      }
      checked.add(`${request.method} ${schemaPath} ${response.status}`);
    },
  };
}

// ---------------------------------------------------------------- the client against the running service

let t: TestApp;
let server: ReturnType<typeof listen>;
let doc: OpenApi;
const checked = new Set<string>();
const clientFor = (document: OpenApi, seen = checked) => {
  const client = createClient<paths>({ baseUrl: server.base });
  client.use(asDocumented(document, seen));
  return client;
};
let client: ReturnType<typeof clientFor>;

beforeAll(async () => {
  t = await createTestApp();
  server = listen(t.app);
  doc = (await (await fetch(`${server.base}/openapi.json`)).json()) as OpenApi;
  client = clientFor(doc);
});
afterAll(async () => {
  server?.stop();
  await t?.close();
});

/** Creates a product through the client and returns it. */
async function createProduct(body: components['schemas']['ProductCreate']): Promise<Product> {
  const { data, error, response } = await client.POST('/products', { body });
  expect(error).toBeUndefined();
  expect(response.status).toBe(201);
  return data!;
}

/** The cursor in a `Link: <...>; rel="next"` header, or null on the last page. */
function nextCursor(link: string | null): string | null {
  const target = link && /<([^>]+)>\s*;\s*rel="next"/.exec(link)?.[1];
  return target ? new URL(target, server.base).searchParams.get('cursor') : null;
}

describe('typed client: happy path', () => {
  test('creates a product: 201 with the product, its Location and ETag', async () => {
    const { data, response } = await client.POST('/products', {
      body: { name: 'Client Desk Lamp', price: '24.90', category: 'Client Home', quantity: 12, sku: 'CLIENT-LAMP' },
    });
    expect(response.status).toBe(201);
    const product: Product | undefined = data;
    expect(product).toMatchObject({
      sku: 'CLIENT-LAMP',
      name: 'Client Desk Lamp',
      price: 24.9,
      quantity: 12,
      category: 'Client Home',
    });
    expect(response.headers.get('location')).toBe(`/products/${product!.id}`);
    expect(response.headers.get('etag')).toMatch(/^"\d+-\d+"$/);
  });

  test('lists a category page by page, following Link rel="next", every product exactly once', async () => {
    const category = 'Client Paging';
    const created = [];
    for (let i = 0; i < 7; i++) created.push(await createProduct({ name: `Paging item ${i}`, price: 1 + i, category }));
    await createProduct({ name: 'Paging outsider', price: 1, category: 'Client Elsewhere' });

    const seen: Product[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const { data, response } = await client.GET('/products', { params: { query: { category, limit: 3, cursor } } });
      expect(response.status).toBe(200);
      seen.push(...data!);
      cursor = nextCursor(response.headers.get('link')) ?? undefined;
      pages++;
    } while (cursor !== undefined && pages < 10);

    expect(pages).toBe(3);
    expect(seen.map((p) => p.id).sort((a, b) => a - b)).toEqual(created.map((p) => p.id).sort((a, b) => a - b));
    expect(new Set(seen.map((p) => p.id)).size).toBe(created.length);
    expect(seen.every((p) => p.category === category)).toBe(true);
  });

  test('a stock adjustment repeated with the same Idempotency-Key replays the first answer and counts once', async () => {
    const product = await createProduct({ name: 'Client Idempotent Mug', price: 8, quantity: 3 });
    const key = `client-test-${crypto.randomUUID()}`;
    const adjust = () =>
      client.POST('/products/{id}/stock-adjustments', {
        params: { path: { id: product.id }, header: { 'idempotency-key': key } },
        body: { delta: 5, reason: 'received', note: 'PO 7731' },
      });

    const first = await adjust();
    const second = await adjust();
    expect(first.response.status).toBe(201);
    expect(first.data?.movement).toMatchObject({ delta: 5, reason: 'received', note: 'PO 7731', quantity_after: 8 });
    expect(first.data?.product.quantity).toBe(8);
    expect(first.response.headers.get('idempotent-replayed')).toBeNull();
    expect(second.response.status).toBe(201);
    expect(second.response.headers.get('idempotent-replayed')).toBe('true');
    expect(second.data).toEqual(first.data!);

    const { data: after } = await client.GET('/products/{id}', { params: { path: { id: product.id } } });
    expect(after?.quantity).toBe(8);
  });
});

describe('typed client: errors', () => {
  test('a duplicate SKU is a typed 409 problem with code duplicate_sku', async () => {
    await createProduct({ name: 'Client Original', price: 5, sku: 'CLIENT-DUP' });
    const { data, error, response } = await client.POST('/products', {
      body: { name: 'Client Copy', price: 5, sku: 'client-dup' },
    });
    expect(data).toBeUndefined();
    expect(response.status).toBe(409);
    expect(response.headers.get('content-type')).toStartWith('application/problem+json');
    expect(error?.code).toBe('duplicate_sku');
    expect(error).toMatchObject({ status: 409, type: 'urn:inventory:problem:duplicate_sku', instance: '/products' });
  });

  test('an invalid body is a typed 422 problem naming the field', async () => {
    const { error, response } = await client.POST('/products', { body: { name: 'Client Bad Price', price: 1.234 } });
    expect(response.status).toBe(422);
    expect(error?.code).toBe('validation_failed');
    expect(error?.errors?.map((e) => e.path)).toEqual(['price']);
  });

  test('every response above was checked against /openapi.json', () => {
    expect([...checked].sort()).toEqual(
      expect.arrayContaining([
        'GET /products 200',
        'GET /products/{id} 200',
        'POST /products 201',
        'POST /products 409',
        'POST /products 422',
        'POST /products/{id}/stock-adjustments 201',
      ]),
    );
  });
});

describe('response checks: a document that lies fails', () => {
  const product = SAMPLE_PRODUCT;
  const withProduct = (change: (schema: Record<string, any>) => void): OpenApi => {
    const copy = structuredClone(doc);
    change(copy.components.schemas.Product);
    return copy;
  };

  test('the real document accepts a real product', () => {
    expect(validate({ $ref: '#/components/schemas/Product' }, product, doc)).toEqual([]);
  });

  test('a wrong type, a missing required property and an undocumented property are each reported', () => {
    const wrongType = withProduct((p) => {
      p.properties.price.type = 'string';
    });
    expect(validate({ $ref: '#/components/schemas/Product' }, product, wrongType)).toEqual(['$.price: expected string, got 1.5']);
    const { sku: _, ...withoutSku } = product;
    expect(validate({ $ref: '#/components/schemas/Product' }, withoutSku, doc)).toEqual([
      '$: required property "sku" is missing',
    ]);
    const lessDocumented = withProduct((p) => {
      delete p.properties.category;
      p.required = p.required.filter((name: string) => name !== 'category');
    });
    expect(validate({ $ref: '#/components/schemas/Product' }, product, lessDocumented)).toEqual([
      '$: property "category" is not documented',
    ]);
  });

  test('a keyword the validator does not know is refused, not skipped', () => {
    expect(() => validate({ type: 'string', contentEncoding: 'base64' }, 'x', doc)).toThrow(
      /unsupported keyword "contentEncoding"/,
    );
  });

  test('a request whose answer is not documented fails', async () => {
    const no409 = structuredClone(doc);
    delete no409.paths['/products']!.post.responses['409'];
    const strict = clientFor(no409, new Set());
    await createProduct({ name: 'Client Lie Original', price: 5, sku: 'CLIENT-LIE' });
    await expect(strict.POST('/products', { body: { name: 'Client Lie Copy', price: 5, sku: 'CLIENT-LIE' } })).rejects.toThrow(
      /POST \/products → 409 is not as \/openapi.json documents it:\n {2}status 409 is not documented/,
    );
  });

  test('a body that does not match the documented schema fails', async () => {
    const lying = withProduct((p) => {
      p.properties.quantity.type = 'string';
    });
    const strict = clientFor(lying, new Set());
    await expect(strict.POST('/products', { body: { name: 'Client Lie Body', price: 5 } })).rejects.toThrow(
      /body\.quantity: expected string, got 0/,
    );
  });
});
