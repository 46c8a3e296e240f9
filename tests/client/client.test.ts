/**
 * The generated TypeScript client (clients/ts/schema.d.ts + openapi-fetch)
 * against the service on a real socket. Every response the client receives is
 * checked against what /openapi.json documents for it (status, headers, body
 * shape), so a document that lies about a response fails these tests.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from '../../clients/ts/schema';
import { createTestApp, listen, type TestApp } from '../support/app.ts';

type Product = components['schemas']['Product'];
type JsonSchema = boolean | { [keyword: string]: any };
type OpenApi = { paths: Record<string, Record<string, any>>; [key: string]: any };

// ---------------------------------------------------------------- a JSON Schema validator for the subset we use

const ANNOTATIONS = new Set(['description', 'example', 'examples', 'default', 'title', 'deprecated', 'readOnly', 'writeOnly']);
const ASSERTIONS = new Set([
  '$ref', 'type', 'enum', 'const', 'properties', 'required', 'additionalProperties', 'items', 'anyOf', 'oneOf', 'allOf',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'pattern', 'format',
  'minItems', 'maxItems',
]);
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

function resolveRef(doc: unknown, ref: string): JsonSchema {
  if (!ref.startsWith('#/')) throw new Error(`validator: only local $refs are supported, got ${ref}`);
  const target = ref.slice(2).split('/').reduce<any>(
    (node, part) => node?.[part.replaceAll('~1', '/').replaceAll('~0', '~')], doc);
  if (target === undefined) throw new Error(`validator: $ref ${ref} points at nothing`);
  return target as JsonSchema;
}

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case 'null': return value === null;
    case 'array': return Array.isArray(value);
    case 'object': return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'integer': return Number.isInteger(value);
    case 'number': return typeof value === 'number' && Number.isFinite(value);
    case 'string': case 'boolean': return typeof value === type;
    default: throw new Error(`validator: unknown type ${type}`);
  }
}

/**
 * The ways `value` breaks `schema`, as "path: message" lines. Objects may not
 * carry properties their schema does not list: an undocumented field in a
 * response is a lie of the document too. Unknown keywords throw, so no
 * constraint is ever skipped silently.
 */
function validate(schema: JsonSchema, value: unknown, doc: unknown, at = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at}: no value is allowed here`];
  for (const keyword of Object.keys(schema)) {
    if (!ANNOTATIONS.has(keyword) && !ASSERTIONS.has(keyword)) throw new Error(`validator: unsupported keyword "${keyword}" at ${at}`);
  }
  const errors: string[] = [];
  const fail = (message: string) => errors.push(`${at}: ${message}`);
  const s = schema;
  if (s.$ref) errors.push(...validate(resolveRef(doc, s.$ref), value, doc, at));
  if (s.type !== undefined) {
    const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => typeMatches(t, value))) return [...errors, `${at}: expected ${types.join(' or ')}, got ${JSON.stringify(value)}`];
  }
  if (s.enum && !s.enum.some((v: unknown) => JSON.stringify(v) === JSON.stringify(value))) fail(`${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
  if ('const' in s && JSON.stringify(s.const) !== JSON.stringify(value)) fail(`expected ${JSON.stringify(s.const)}`);
  if (s.allOf) for (const sub of s.allOf) errors.push(...validate(sub, value, doc, at));
  if (s.anyOf && !s.anyOf.some((sub: JsonSchema) => validate(sub, value, doc, at).length === 0)) fail('matches none of anyOf');
  if (s.oneOf && s.oneOf.filter((sub: JsonSchema) => validate(sub, value, doc, at).length === 0).length !== 1) fail('does not match exactly one of oneOf');
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < s.minimum) fail(`${value} < minimum ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) fail(`${value} > maximum ${s.maximum}`);
    if (s.exclusiveMinimum !== undefined && value <= s.exclusiveMinimum) fail(`${value} <= exclusiveMinimum ${s.exclusiveMinimum}`);
    if (s.exclusiveMaximum !== undefined && value >= s.exclusiveMaximum) fail(`${value} >= exclusiveMaximum ${s.exclusiveMaximum}`);
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (s.minLength !== undefined && length < s.minLength) fail(`shorter than ${s.minLength}`);
    if (s.maxLength !== undefined && length > s.maxLength) fail(`longer than ${s.maxLength}`);
    if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(value)) fail(`does not match ${s.pattern}`);
    if (s.format === 'date-time' && (!RFC3339.test(value) || Number.isNaN(Date.parse(value)))) fail(`${value} is not an RFC 3339 date-time`);
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) fail(`fewer than ${s.minItems} items`);
    if (s.maxItems !== undefined && value.length > s.maxItems) fail(`more than ${s.maxItems} items`);
    if (s.items !== undefined) value.forEach((item, i) => errors.push(...validate(s.items, item, doc, `${at}[${i}]`)));
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    for (const name of s.required ?? []) if (!(name in object)) fail(`required property "${name}" is missing`);
    const properties: Record<string, JsonSchema> = s.properties ?? {};
    for (const [name, item] of Object.entries(object)) {
      if (name in properties) errors.push(...validate(properties[name]!, item, doc, `${at}.${name}`));
      else if (s.additionalProperties === false || (s.additionalProperties === undefined && s.properties)) fail(`property "${name}" is not documented`);
      else if (typeof s.additionalProperties === 'object') errors.push(...validate(s.additionalProperties, item, doc, `${at}.${name}`));
    }
  }
  return errors;
}

type ReceivedResponse = { status: number; headers: { get(name: string): string | null }; text(): Promise<string> };

/** How `response` (to `method` on the path template `schemaPath`) differs from what `doc` documents. */
async function undocumented(doc: OpenApi, method: string, schemaPath: string, response: ReceivedResponse): Promise<string[]> {
  const operation = doc.paths[schemaPath]?.[method.toLowerCase()];
  if (!operation) return [`${method} ${schemaPath} is not in the document`];
  const status = String(response.status);
  const documented = operation.responses?.[status] ?? operation.responses?.[`${status[0]}XX`] ?? operation.responses?.default;
  if (!documented) return [`status ${status} is not documented`];
  const spec = documented.$ref ? resolveRef(doc, documented.$ref) as Record<string, any> : documented;
  const problems: string[] = [];
  for (const [name, header] of Object.entries<any>(spec.headers ?? {})) {
    const value = response.headers.get(name);
    if (value === null) {
      if (header.required) problems.push(`required header ${name} is missing`);
    } else if (header.schema) {
      problems.push(...validate(header.schema, value, doc, `header ${name}`));
    }
  }
  const body = await response.text();
  const content: Record<string, { schema?: JsonSchema }> = spec.content ?? {};
  if (Object.keys(content).length === 0) return body === '' ? problems : [...problems, 'a body is sent where none is documented'];
  const mediaType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const media = content[mediaType];
  if (!media) return [...problems, `content-type "${mediaType}" is not one of ${Object.keys(content).join(', ')}`];
  if (!/[/+]json$/.test(mediaType) || !media.schema) return problems;
  return [...problems, ...validate(media.schema, JSON.parse(body), doc, 'body')];
}

/** openapi-fetch middleware: every response must be as documented, or the request fails. */
function asDocumented(doc: OpenApi, checked: Set<string>): Middleware {
  return {
    async onResponse({ request, response, schemaPath }) {
      const problems = await undocumented(doc, request.method, schemaPath, response.clone());
      if (problems.length) {
        throw new Error(`${request.method} ${schemaPath} → ${response.status} is not as /openapi.json documents it:\n  ${problems.join('\n  ')}`);
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
    expect(product).toMatchObject({ sku: 'CLIENT-LAMP', name: 'Client Desk Lamp', price: 24.9, quantity: 12, category: 'Client Home' });
    expect(response.headers.get('location')).toBe(`/products/${product!.id}`);
    expect(response.headers.get('etag')).toMatch(/^"\d+"$/);
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
    const adjust = () => client.POST('/products/{id}/stock-adjustments', {
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
    const { data, error, response } = await client.POST('/products', { body: { name: 'Client Copy', price: 5, sku: 'client-dup' } });
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
    expect([...checked].sort()).toEqual(expect.arrayContaining([
      'GET /products 200',
      'GET /products/{id} 200',
      'POST /products 201',
      'POST /products 409',
      'POST /products 422',
      'POST /products/{id}/stock-adjustments 201',
    ]));
  });
});

describe('response checks: a document that lies fails', () => {
  const product = {
    id: 1, sku: 'A-1', name: 'A', description: null, price: 1.5, quantity: 2, category: 'C',
    created_at: '2026-11-22T10:15:30.123456Z', updated_at: '2026-11-22T10:15:30.123456Z',
  };
  const withProduct = (change: (schema: Record<string, any>) => void): OpenApi => {
    const copy = structuredClone(doc);
    change(copy.components.schemas.Product);
    return copy;
  };

  test('the real document accepts a real product', () => {
    expect(validate({ $ref: '#/components/schemas/Product' }, product, doc)).toEqual([]);
  });

  test('a wrong type, a missing required property and an undocumented property are each reported', () => {
    const wrongType = withProduct((p) => { p.properties.price.type = 'string'; });
    expect(validate({ $ref: '#/components/schemas/Product' }, product, wrongType)).toEqual(['$.price: expected string, got 1.5']);
    const { sku: _, ...withoutSku } = product;
    expect(validate({ $ref: '#/components/schemas/Product' }, withoutSku, doc)).toEqual(['$: required property "sku" is missing']);
    const lessDocumented = withProduct((p) => {
      delete p.properties.category;
      p.required = p.required.filter((name: string) => name !== 'category');
    });
    expect(validate({ $ref: '#/components/schemas/Product' }, product, lessDocumented)).toEqual(['$: property "category" is not documented']);
  });

  test('a keyword the validator does not know is refused, not skipped', () => {
    expect(() => validate({ type: 'string', contentEncoding: 'base64' }, 'x', doc)).toThrow(/unsupported keyword "contentEncoding"/);
  });

  test('a request whose answer is not documented fails', async () => {
    const no409 = structuredClone(doc);
    delete no409.paths['/products']!.post.responses['409'];
    const strict = clientFor(no409, new Set());
    await createProduct({ name: 'Client Lie Original', price: 5, sku: 'CLIENT-LIE' });
    await expect(strict.POST('/products', { body: { name: 'Client Lie Copy', price: 5, sku: 'CLIENT-LIE' } }))
      .rejects.toThrow(/POST \/products → 409 is not as \/openapi.json documents it:\n {2}status 409 is not documented/);
  });

  test('a body that does not match the documented schema fails', async () => {
    const lying = withProduct((p) => { p.properties.quantity.type = 'string'; });
    const strict = clientFor(lying, new Set());
    await expect(strict.POST('/products', { body: { name: 'Client Lie Body', price: 5 } }))
      .rejects.toThrow(/body\.quantity: expected string, got 0/);
  });
});
