/**
 * Property-based fuzzing driven by the service's own OpenAPI document: every
 * operation gets requests built from its documented parameters and bodies,
 * valid ones and hostile mutations of them. Whatever arrives, the service
 * never answers 500, every error is a problem document whose `status` is the
 * HTTP status, and every success matches the documented response schema.
 *
 * Replay a failure with FUZZ_SEED=<the seed printed at the start>.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { createApp } from '../../src/app.ts';
import { checkedApp } from '../support/contract.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestApp } from '../support/app.ts';

type Schema = Record<string, any>;
type Doc = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema>; parameters?: Record<string, Parameter> };
};
type Parameter = { name: string; in: 'path' | 'query' | 'header'; required?: boolean; schema: Schema; $ref?: string };
type Operation = {
  operationId: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }>; headers?: Record<string, { required?: boolean }> }>;
};
type Op = { method: string; path: string; op: Operation };

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const MIN_REQUESTS = 5000;
console.log(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);

const t = await createTestApp();
// Every optional layer on except API keys (so that writes get through): rate limiting with
// a limit no run reaches, forwarded addresses trusted, CORS for one origin.
const app = checkedApp(
  createApp({
    sql: t.db.sql,
    // Webhook receivers anywhere: generated URLs are taken without looking their hosts up.
    config: { rateLimitMax: 1_000_000, trustProxy: true, corsOrigins: ['https://shop.example'], webhookAllowPrivate: true },
    logger: createLogger((process.env.TEST_LOG_LEVEL ?? 'silent') as 'silent'),
  }),
);
const doc = (await (await app.request('/openapi.json')).json()) as Doc;
afterAll(async () => {
  await t.close();
});

const operations: Op[] = Object.entries(doc.paths).flatMap(([path, ops]) =>
  Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
);
/** Enough runs per operation for MIN_REQUESTS in all, whatever the number of operations. */
const RUNS_PER_OPERATION = Math.max(300, Math.ceil(MIN_REQUESTS / operations.length));

// ------------------------------------------------------------------ a small JSON Schema validator

const resolve = (s: Schema): Schema => {
  if (typeof s?.$ref !== 'string') return s;
  const name = s.$ref.replace('#/components/schemas/', '');
  const target = doc.components.schemas[name];
  if (!target) throw new Error(`unresolvable $ref ${s.$ref}`);
  return resolve(target);
};

const typeOf = (v: unknown) =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' && Number.isInteger(v) ? 'integer' : typeof v;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * The subset of JSON Schema the document uses. `closed` treats objects without
 * `additionalProperties` as closed too: a response must not carry undocumented members.
 */
function validate(schema: Schema, value: unknown, closed: boolean, at = '$'): string[] {
  const s = resolve(schema);
  if (s.anyOf || s.oneOf) {
    const options: Schema[] = s.anyOf ?? s.oneOf;
    const passing = options.filter((o) => validate(o, value, closed, at).length === 0).length;
    const ok = s.anyOf ? passing > 0 : passing === 1;
    return ok ? [] : [`${at}: matches ${passing} of ${options.length} alternatives`];
  }
  if (s.allOf) return (s.allOf as Schema[]).flatMap((o) => validate(o, value, closed, at));
  if (s.enum && !s.enum.some((e: unknown) => e === value)) return [`${at}: ${JSON.stringify(value)} not in enum`];
  if (s.type !== undefined) {
    const types: string[] = [s.type].flat();
    if (s.nullable) types.push('null');
    const actual = typeOf(value);
    if (!types.includes(actual) && !(actual === 'integer' && types.includes('number'))) {
      return [`${at}: expected ${types.join('|')}, got ${actual}`];
    }
  }
  const errors: string[] = [];
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < s.minimum) errors.push(`${at}: below ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) errors.push(`${at}: above ${s.maximum}`);
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (s.minLength !== undefined && length < s.minLength) errors.push(`${at}: shorter than ${s.minLength}`);
    if (s.maxLength !== undefined && length > s.maxLength) errors.push(`${at}: longer than ${s.maxLength}`);
    if (s.pattern && !new RegExp(s.pattern, 'u').test(value)) errors.push(`${at}: does not match ${s.pattern}`);
    if (s.format === 'date-time' && !RFC3339.test(value)) errors.push(`${at}: not an RFC 3339 date-time`);
  }
  if (Array.isArray(value)) {
    if (s.items) value.forEach((item, i) => errors.push(...validate(s.items, item, closed, `${at}[${i}]`)));
    if (s.minItems !== undefined && value.length < s.minItems) errors.push(`${at}: fewer than ${s.minItems} items`);
    if (s.maxItems !== undefined && value.length > s.maxItems) errors.push(`${at}: more than ${s.maxItems} items`);
  } else if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const properties: Record<string, Schema> = s.properties ?? {};
    for (const key of s.required ?? []) if (!(key in record)) errors.push(`${at}: missing required ${key}`);
    for (const [key, v] of Object.entries(record)) {
      if (properties[key]) errors.push(...validate(properties[key]!, v, closed, `${at}.${key}`));
      else if (s.additionalProperties === false || (closed && s.additionalProperties === undefined)) {
        errors.push(`${at}: undocumented member ${key}`);
      } else if (typeof s.additionalProperties === 'object') {
        errors.push(...validate(s.additionalProperties, v, closed, `${at}.${key}`));
      }
    }
  }
  return errors;
}

describe('the validator used by the fuzzer', () => {
  test('accepts documented values and refuses wrong ones', () => {
    const product = {
      id: 1,
      sku: 'A',
      name: 'n',
      description: null,
      price: 1.5,
      quantity: 0,
      available: 0,
      category: 'c',
      created_at: '2026-01-01T00:00:00.123456Z',
      updated_at: '2026-01-01T00:00:00Z',
    };
    const ref = { $ref: '#/components/schemas/Product' };
    expect(validate(ref, product, true)).toEqual([]);
    expect(validate(ref, { ...product, version: 3 }, true)).toEqual(['$: undocumented member version']);
    expect(validate(ref, { ...product, price: '1.50' }, true)).toEqual(['$.price: expected number, got string']);
    expect(validate(ref, { ...product, quantity: 1.5 }, true)).toEqual(['$.quantity: expected integer, got number']);
    expect(validate(ref, { ...product, created_at: 'yesterday' }, true)).toEqual(['$.created_at: not an RFC 3339 date-time']);
    const { sku: _, ...noSku } = product;
    expect(validate(ref, noSku, true)).toEqual(['$: missing required sku']);
    const create = { $ref: '#/components/schemas/ProductCreate' };
    expect(validate(create, { name: 'x', price: '1.25' }, false)).toEqual([]);
    expect(validate(create, { name: 'x', price: '1.255' }, false)).toHaveLength(1);
    expect(validate(create, { name: 'x', price: 1, extra: 1 }, false)).toEqual(['$: undocumented member extra']);
  });
});

// ------------------------------------------------------------------ hostile values

/** JSON text written as-is, for numbers JSON.stringify cannot produce (-0, 1e400, 1E2). */
class Raw {
  constructor(readonly text: string) {}
}

function toJson(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const HUGE = 'x'.repeat(100_000);
const DEEP_ARRAY = '['.repeat(10_000) + ']'.repeat(10_000);
const DEEP_OBJECT = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);

const NASTY_STRINGS = [
  "'; DROP TABLE products; --",
  "' OR '1'='1",
  '1; SELECT pg_sleep(10)',
  "\\'; --",
  '${7*7}',
  '${process.env.DATABASE_URL}',
  '{{7*7}}',
  '#{7*7}',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '../../etc/passwd',
  '%00',
  '%s%n%x',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'a\ud83d',
  '\udc00b',
  '😀',
  '👩‍👩‍👧‍👦',
  '\u202eevil\u202c',
  'مرحبا بالعالم',
  'שלום',
  'e\u0301\u0301\u0301\u0301',
  'Z\u0334\u0321\u032a\u032b\u0356\u0325\u0354',
  '\ufeff',
  '\uffff',
  '\u2028\u2029',
  '\u00a0',
  ' ',
  '',
  '\t\n\r',
  '\u0007\u001b[31m',
  'null',
  'undefined',
  'true',
  'NaN',
  'Infinity',
  '-Infinity',
  '-0',
  '0x10',
  '1e308',
  '1e-308',
  '9007199254740993',
  '-1',
  '0',
  '1.5',
  '１２３',
  '٣',
  '__proto__',
  'constructor',
  '{"$gt":""}',
  'İ',
  'ß',
  'ǅ',
  'ﬃ',
  HUGE,
  '😀'.repeat(20_000),
  'é'.repeat(300),
];

const NASTY_NUMBERS: unknown[] = [
  new Raw('-0'),
  new Raw('1e308'),
  new Raw('-1e308'),
  new Raw('1e400'),
  new Raw('-1e400'),
  new Raw('1E2'),
  new Raw('0.10'),
  new Raw('1.0'),
  new Raw('5e-324'),
  new Raw('123456789012345678901234567890'),
  2 ** 31,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 53 + 2,
  -1,
  0,
  0.1 + 0.2,
  1.005,
  99999999.99,
  100000000,
  0.001,
  Number.MAX_SAFE_INTEGER,
];

const WRONG_TYPES: unknown[] = [
  null,
  true,
  false,
  [],
  {},
  [1],
  { a: 1 },
  'NaN',
  'Infinity',
  '1e308',
  '-0',
  '12',
  '',
  ...NASTY_NUMBERS,
];

/** Header values a client can send: Latin-1 without CR, LF or NUL. */
const NASTY_HEADER_VALUES = [
  ...NASTY_STRINGS.filter((s) => /^[\x01-\x09\x0b\x0c\x0e-\xff]*$/.test(s)),
  'é\xff\xfe',
  '"1"',
  'W/"1"',
  '"99999999999999999"',
  '*',
  '"1", "2"',
  ', ',
  '"',
  'W/',
  '"-1"',
  '"1.5"',
];

/** Path segments and query values as sent on the wire, some deliberately not valid UTF-8. */
const NASTY_ENCODED = [
  '%FF',
  '%ED%A0%80',
  '%C0%AF',
  '%E2%82',
  '%00',
  '%',
  '%zz',
  '%2e%2e',
  '..',
  '1%2F2',
  '1;2',
  '%0D%0ASet-Cookie:%20x=1',
  '%F0%9F%98%80',
  '%EF%BB%BF1',
  '+1',
  '%201',
  '1%20',
  '1e3',
  '0x1F',
  '0b11',
  '1_000',
  '9007199254740992',
  '99999999999999999999',
  '-1',
  '0',
  '-0',
  '1.0',
  '1.5',
  'NaN',
  'Infinity',
  'null',
  '%D9%A3',
];

/** Percent-encodes text for a URL, lone surrogates as their WTF-8 bytes (which no UTF-8 decoder accepts). */
function encodeComponent(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const pair = unit >= 0xd800 && unit <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    if (pair) {
      out += encodeURIComponent(text.slice(i, i + 2));
      i++;
    } else if (unit >= 0xd800 && unit <= 0xdfff) {
      out += [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)]
        .map((b) => `%${b.toString(16).toUpperCase()}`)
        .join('');
    } else {
      out += encodeURIComponent(text[i]!);
    }
  }
  return out;
}

const nastyString = fc.constantFrom(...NASTY_STRINGS);
/** 3 to 6 KB that do not compress: too big for a btree index entry, small enough for the URL and header limits. */
const longOpaque = fc.uint8Array({ minLength: 2200, maxLength: 4500 }).map((b) => Buffer.from(b).toString('base64url'));
const nastyEncoded = fc.oneof(fc.constantFrom(...NASTY_ENCODED), nastyString.map(encodeComponent), longOpaque);
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  nastyString,
);

// ------------------------------------------------------------------ valid values from the schemas

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function integerArb(s: Schema): fc.Arbitrary<number> {
  // 1 to 2^53 - 1 is a row id (a product, a location in a body): mostly one that exists.
  if (s.minimum === 1 && s.maximum === Number.MAX_SAFE_INTEGER) {
    return fc.oneof({ arbitrary: fc.integer({ min: 1, max: 40 }), weight: 4 }, { arbitrary: wideIntegerArb(s), weight: 1 });
  }
  return wideIntegerArb(s);
}

function wideIntegerArb(s: Schema): fc.Arbitrary<number> {
  const min = BigInt(s.minimum ?? -Number.MAX_SAFE_INTEGER);
  const max = BigInt(s.maximum ?? Number.MAX_SAFE_INTEGER);
  const small = fc.integer({ min: Number(min > -1000n ? min : -1000n), max: Number(max < 1000n ? max : 1000n) });
  const full = fc.bigInt({ min: min < -MAX_SAFE ? -MAX_SAFE : min, max: max > MAX_SAFE ? MAX_SAFE : max }).map(Number);
  return fc.oneof({ arbitrary: small, weight: 3 }, { arbitrary: full, weight: 1 });
}

function stringArb(s: Schema): fc.Arbitrary<string> {
  const min = s.minLength ?? 0;
  const max = Math.min(s.maxLength ?? 60, 300);
  if (s.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
  // JSON Schema 2020-12 patterns are ECMA-262 expressions in Unicode mode (the u flag).
  const pattern = s.pattern ? new RegExp(s.pattern, 'u') : undefined;
  const base = pattern
    ? fc.oneof(fc.stringMatching(pattern), fc.string({ unit: 'grapheme', minLength: min, maxLength: max }))
    : fc.oneof(fc.string({ unit: 'grapheme', minLength: min, maxLength: max }), fc.string({ minLength: min, maxLength: max }));
  return base.filter((v) => v.length >= min && v.length <= max && (!pattern || pattern.test(v)));
}

/** Values valid for a schema (as far as a JSON Schema can say: the service may still refuse some). */
function arbFromSchema(schema: Schema): fc.Arbitrary<unknown> {
  const s = resolve(schema);
  if (s.anyOf || s.oneOf) return fc.oneof(...(s.anyOf ?? s.oneOf).map(arbFromSchema));
  if (s.enum) return fc.constantFrom(...s.enum);
  const types: string[] = s.type === undefined ? [] : [s.type].flat();
  if (types.length > 1) return fc.oneof(...types.map((type) => arbFromSchema({ ...s, type })));
  switch (types[0]) {
    case 'integer':
      return integerArb(s);
    case 'number': {
      const min = s.minimum ?? -1e9;
      const max = s.maximum ?? 1e9;
      const cents = fc.integer({ min: Math.ceil(min * 100), max: Math.floor(max * 100) }).map((c) => c / 100);
      return fc.oneof(cents, fc.double({ min, max, noNaN: true, noDefaultInfinity: true }));
    }
    case 'string':
      return stringArb(s);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      // Mostly at most one item: a request of several generated items is valid only if each is, and
      // a batch is all or nothing, so longer arrays alone would rarely reach a success.
      const item = arbFromSchema(s.items ?? {});
      const min = s.minItems ?? 0;
      const max = Math.min(s.maxItems ?? 5, 5);
      return fc.oneof(
        { arbitrary: fc.array(item, { minLength: min, maxLength: Math.max(min, 1) }), weight: 3 },
        { arbitrary: fc.array(item, { minLength: min, maxLength: max }), weight: 1 },
      );
    }
    case 'object': {
      const properties: Record<string, Schema> = s.properties ?? {};
      const shape = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, arbFromSchema(v)]));
      return fc.record(shape, { requiredKeys: s.required ?? [] });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

// ------------------------------------------------------------------ requests

type Draft = {
  method: string;
  /** Path parameters, already percent-encoded. */
  params: Record<string, string>;
  /** Query pairs, already percent-encoded; `raw` replaces them all. */
  query: [string, string][];
  rawQuery?: string;
  headers: Record<string, string>;
  /** The body as a value; `raw` replaces it with exact text or bytes. */
  body?: { value?: unknown; raw?: string | Uint8Array; contentType?: string };
  /** Sent twice with the same fresh Idempotency-Key. */
  repeat?: boolean;
  mutation: string;
};

function finish(o: Op, d: Draft): { path: string; init: RequestInit } {
  let path = o.path.replace(/\{(\w+)\}/g, (_, name: string) => d.params[name] ?? '');
  const query = d.rawQuery ?? d.query.map(([k, v]) => `${k}=${v}`).join('&');
  if (query) path += `?${query}`;
  const headers = { ...d.headers };
  let body: string | Uint8Array | undefined;
  if (d.body) {
    body = d.body.raw ?? toJson(d.body.value);
    if (d.body.contentType !== undefined) headers['content-type'] = d.body.contentType;
  }
  return { path, init: { method: d.method, headers, body } };
}

const parametersOf = (o: Op, where: Parameter['in']) =>
  (o.op.parameters ?? [])
    .map((p) => (p.$ref ? (doc.components.parameters?.[p.$ref.replace('#/components/parameters/', '')] ?? p) : p))
    .filter((p) => p.in === where);

/** Ids of rows that exist, mostly, so that valid requests reach the database and succeed. */
const idArb = (s: Schema) =>
  fc.oneof({ arbitrary: fc.integer({ min: 1, max: 40 }), weight: 4 }, { arbitrary: wideIntegerArb(s), weight: 1 });

const cursorArb = fc.oneof(
  fc.string({ maxLength: 40 }),
  nastyString,
  fc
    .tuple(
      fc.constantFrom(
        'name',
        '-name',
        'price',
        '-price',
        'created_at',
        '-created_at',
        'archived:name',
        'archived:-price',
        'movements',
        'x',
      ),
      fc.oneof(
        anyText,
        fc.constantFrom(
          '0.00',
          '99999999.99',
          '12.5',
          '0000-01-01T00:00:00Z',
          '9999-12-31T23:59:59.999999Z',
          '2026-02-30T00:00:00Z',
          '1970-01-01T00:00:00Z',
          '-1',
        ),
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        fc.integer(),
        fc.constantFrom(null, [], {}, 1e308, -0),
      ),
      fc.oneof(fc.integer(), fc.constantFrom(0, -1, 1.5, 2 ** 53, '1', null, 1e308)),
    )
    .map((parts) => Buffer.from(JSON.stringify(parts)).toString('base64url')),
);

function queryValueArb(p: Parameter): fc.Arbitrary<string> {
  if (p.name === 'cursor') return cursorArb;
  return arbFromSchema(p.schema).map(String);
}

function headerValueArb(p: Parameter): fc.Arbitrary<string> {
  // Entity tags as the service sends them ("<version>-<available>", or a page's W/"…"), the version alone, and `*`.
  const tag = fc.oneof(
    fc.integer({ min: 1, max: 5 }).map((n) => `"${n}"`),
    fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 6000 })).map(([v, a]) => `"${v}-${a}"`),
  );
  if (p.name === 'if-match') return fc.oneof(tag, fc.constant('*'));
  if (p.name === 'if-none-match') {
    return fc.oneof(
      tag,
      tag.map((t) => `W/${t}`),
      fc.array(tag, { minLength: 1, maxLength: 3 }).map((ts) => ts.join(', ')),
      fc.constant('*'),
      fc.stringMatching(/^[\x21\x23-\x7e]{0,20}$/).map((t) => `W/"${t}"`),
    );
  }
  return arbFromSchema(p.schema).map(String);
}

const jsonTypes = (o: Op) => Object.keys(o.op.requestBody?.content ?? {});

function validDraft(o: Op): fc.Arbitrary<Draft> {
  const params = fc.record(Object.fromEntries(parametersOf(o, 'path').map((p) => [p.name, idArb(p.schema).map(String)])));
  const query = fc
    .tuple(
      ...parametersOf(o, 'query').map((p) =>
        fc.option(
          queryValueArb(p).map((v) => [p.name, encodeComponent(v)] as [string, string]),
          { nil: undefined },
        ),
      ),
    )
    .map((pairs) => pairs.filter((x): x is [string, string] => x !== undefined));
  const headers = fc
    .tuple(
      ...parametersOf(o, 'header').map((p) =>
        fc.option(
          headerValueArb(p).map((v) => [p.name, v] as const),
          { nil: undefined },
        ),
      ),
    )
    .map((pairs) => Object.fromEntries(pairs.filter((x) => x !== undefined)));
  const types = jsonTypes(o);
  const body = types.length
    ? fc.record({
        value: arbFromSchema(o.op.requestBody!.content[types[0]!]!.schema),
        contentType: fc.constantFrom(...types, 'application/json; charset=utf-8'),
      })
    : fc.constant(undefined);
  return fc.record({ params, query, headers, body }).map((d) => ({ ...d, method: o.method, mutation: 'valid' }));
}

type Mutation = fc.Arbitrary<(d: Draft) => Draft>;

/** Hostile bodies as exact text. */
const RAW_BODIES = [
  '',
  ' ',
  '{',
  '}',
  '{"name":',
  '{"name":"a",}',
  "{'name':'a'}",
  '{"name":"a"}garbage',
  '{"a":1}{"b":2}',
  'NaN',
  '{"price":NaN}',
  '{"price":Infinity}',
  '{"price":-}',
  '{"price":01}',
  '{"price":.5}',
  '{"price":1.}',
  '{"price":+1}',
  '\ufeff{"name":"bom","price":1}',
  '/*c*/{}',
  '{"name":"a\u0000","price":1}',
  '{"name":"tab\there","price":1}',
  '{"name":"\\ud800","price":1}',
  '{"name":"\\u0000","price":1}',
  '{"name":"\\x41","price":1}',
  'null',
  'true',
  '0',
  '"text"',
  '[]',
  '[{"name":"a","price":1}]',
  DEEP_ARRAY,
  DEEP_OBJECT,
  '['.repeat(60_000),
  '{"a":'.repeat(12_000),
  `{"name":${DEEP_ARRAY},"price":1}`,
  `{"name":"deep","price":1,"description":${DEEP_OBJECT}}`,
  '{"name":"a","name":"b","price":1}',
  '{"delta":1,"delta":-1,"reason":"sold"}',
  '{"__proto__":{"name":"p","price":1}}',
  '{"constructor":{"prototype":{"polluted":true}},"name":"c","price":1}',
];

const INVALID_UTF8 = [
  [
    0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x2c, 0x22, 0x70, 0x72, 0x69, 0x63, 0x65, 0x22, 0x3a,
    0x31, 0x7d,
  ],
  [
    0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x2c, 0x22, 0x70, 0x72, 0x69, 0x63, 0x65, 0x22, 0x3a,
    0x31, 0x7d,
  ],
  [
    0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x2c, 0x22, 0x70, 0x72, 0x69, 0x63, 0x65, 0x22,
    0x3a, 0x31, 0x7d,
  ],
  [0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xe2, 0x82],
  [...new TextEncoder().encode('{"name":"utf16","price":1}')].flatMap((b) => [b, 0]),
].map((bytes) => new Uint8Array(bytes));

const WRONG_CONTENT_TYPES = [
  undefined,
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/json-patch+json',
  'application/jsonp',
  'APPLICATION/JSON',
  'application/json; charset=utf-16',
  'application/json;;',
  '*/*',
  'json',
  'application/',
  ';',
  'text/json',
  'application/merge-patch+json',
];

function bodyMutations(o: Op): Mutation[] {
  const types = jsonTypes(o);
  if (!types.length) {
    if (o.method === 'GET') return [];
    // A body where none is expected: ignored or refused, never a crash.
    return [
      fc
        .constantFrom(...RAW_BODIES, HUGE)
        .map((raw) => (d) => ({ ...d, body: { raw, contentType: 'application/json' }, mutation: 'unexpected body' })),
    ];
  }
  const schema = resolve(o.op.requestBody!.content[types[0]!]!.schema);
  const keys = Object.keys(schema.properties ?? {});
  const required: string[] = schema.required ?? [];
  const asObject = (d: Draft) => ({ ...(d.body?.value as object) });
  const withValue = (d: Draft, value: unknown, mutation: string): Draft => ({ ...d, body: { ...d.body, value }, mutation });
  const mutations: Mutation[] = [
    fc
      .constantFrom(...keys)
      .chain((key) =>
        fc
          .constantFrom(...WRONG_TYPES, ...NASTY_STRINGS)
          .map((bad) => (d: Draft) => withValue(d, { ...asObject(d), [key]: bad }, `${key} = hostile value`)),
      ),
    fc
      .constantFrom(...keys)
      .chain((key) =>
        fc
          .constantFrom(...NASTY_NUMBERS)
          .map((bad) => (d: Draft) => withValue(d, { ...asObject(d), [key]: bad }, `${key} = hostile number`)),
      ),
    fc
      .tuple(
        fc.constantFrom('__proto__', 'constructor', 'prototype', 'id', 'version', 'archived_at', 'created_at', 'x', ''),
        fc.jsonValue({ maxDepth: 1 }),
      )
      .map(
        ([key, value]) =>
          (d: Draft) =>
            withValue(d, { ...asObject(d), [key]: value }, `extra field ${key}`),
      ),
    fc.constantFrom(...RAW_BODIES).map((raw) => (d: Draft) => ({ ...d, body: { ...d.body, raw }, mutation: 'raw body' })),
    fc.constantFrom(...INVALID_UTF8).map((raw) => (d: Draft) => ({ ...d, body: { ...d.body, raw }, mutation: 'invalid UTF-8' })),
    fc
      .constantFrom(...WRONG_CONTENT_TYPES)
      .map((contentType) => (d: Draft) => ({ ...d, body: { ...d.body, contentType }, mutation: `content-type ${contentType}` })),
    fc
      .constantFrom(null, true, 1, 'text', [], [{}], new Raw('-0'))
      .map((value) => (d: Draft) => withValue(d, value, 'body not an object')),
    // The same key twice, in either order, one of them hostile: the value validated must be the value used.
    fc
      .tuple(fc.constantFrom(...keys), fc.constantFrom(...WRONG_TYPES, ...NASTY_STRINGS), fc.boolean())
      .map(([key, bad, badFirst]) => (d: Draft) => {
        const text = toJson(asObject(d));
        const extra = `${JSON.stringify(key)}:${toJson(bad)}`;
        const raw = text === '{}' ? `{${extra}}` : badFirst ? `{${extra},${text.slice(1)}` : `${text.slice(0, -1)},${extra}}`;
        return { ...d, body: { ...d.body, raw }, mutation: `duplicated key ${key}` };
      }),
  ];
  if (required.length) {
    mutations.push(
      fc.constantFrom(...required).map((key) => (d: Draft) => {
        const { [key]: _, ...rest } = asObject(d) as Record<string, unknown>;
        return withValue(d, rest, `without ${key}`);
      }),
    );
  }
  return mutations;
}

function mutations(o: Op): Mutation[] {
  const list: Mutation[] = [...bodyMutations(o)];
  for (const p of parametersOf(o, 'path')) {
    list.push(nastyEncoded.map((v) => (d) => ({ ...d, params: { ...d.params, [p.name]: v }, mutation: `path ${p.name}` })));
  }
  const query = parametersOf(o, 'query');
  if (query.length) {
    list.push(
      fc.tuple(fc.constantFrom(...query.map((p) => p.name)), nastyEncoded).map(([name, v]) => (d) => ({
        ...d,
        query: [...d.query.filter(([k]) => k !== name), [name, v]],
        mutation: `query ${name}`,
      })),
    );
    list.push(
      fc
        .tuple(fc.constantFrom(...query.map((p) => p.name)), fc.array(queryValueArb(query[0]!), { minLength: 2, maxLength: 3 }))
        .map(([name, values]) => (d) => ({
          ...d,
          query: [...d.query, ...values.map((v) => [name, encodeComponent(v)] as [string, string])],
          mutation: `query ${name} repeated`,
        })),
    );
  }
  list.push(
    fc
      .constantFrom(
        '&&=&',
        'limit',
        '%ZZ=1',
        'limit=%00',
        `x=${HUGE}`,
        'a[b]=1',
        'limit[]=1',
        '=',
        '?',
        '#x',
        `sort=${'-'.repeat(5000)}`,
      )
      .map((rawQuery) => (d) => ({ ...d, rawQuery, mutation: 'raw query' })),
  );
  const headerNames = [
    ...parametersOf(o, 'header').map((p) => p.name),
    'x-request-id',
    'accept',
    'authorization',
    'idempotency-key',
    'if-match',
    'if-none-match',
    'x-forwarded-for',
    'origin',
  ];
  const headerValue = fc.oneof(fc.constantFrom(...NASTY_HEADER_VALUES), longOpaque);
  list.push(
    fc.tuple(fc.constantFrom(...headerNames), headerValue).map(([name, v]) => (d) => ({
      ...d,
      headers: { ...d.headers, [name]: v },
      mutation: `header ${name}`,
    })),
  );
  if (parametersOf(o, 'header').some((p) => p.name === 'idempotency-key')) {
    list.push(
      fc.uuid().map((key) => (d) => ({
        ...d,
        headers: { ...d.headers, 'idempotency-key': key },
        repeat: true,
        mutation: 'idempotent repeat',
      })),
    );
  }
  list.push(
    fc.constantFrom('PUT', 'OPTIONS', 'PROPFIND', 'patch', 'Get').map((method) => (d) => ({
      ...d,
      method,
      body: method.toUpperCase() === 'GET' ? undefined : d.body,
      mutation: `method ${method}`,
    })),
  );
  return list;
}

function requestArb(o: Op): fc.Arbitrary<Draft> {
  const mutated = fc
    .tuple(validDraft(o), fc.array(fc.oneof(...mutations(o)), { minLength: 1, maxLength: 2 }))
    .map(([draft, fns]) =>
      fns.reduce((d, fn) => {
        const next = fn(d);
        return { ...next, mutation: d.mutation === 'valid' ? next.mutation : `${d.mutation}; ${next.mutation}` };
      }, draft),
    );
  return fc.oneof({ arbitrary: validDraft(o), weight: 2 }, { arbitrary: mutated, weight: 3 });
}

// ------------------------------------------------------------------ the properties

/** What the document says a request no operation takes may be answered (404, 405, and the middleware's). */
const unroutedStatuses = new Set(
  Object.keys((doc as unknown as { 'x-unrouted-requests': { responses: object } })['x-unrouted-requests'].responses),
);
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const problemSchema = { $ref: '#/components/schemas/Problem' };

let requestCount = 0;
const tally = new Map<string, Map<number, number>>();

const templates = operations.map((x) => ({
  op: x,
  pattern: new RegExp(`^${x.path.replace(/\{\w+\}/g, '[^/]+')}$`),
}));

/**
 * The documented operation a request goes to, as the router sees it: the URL
 * normalised (dot segments, a trailing slash), the method upper-cased.
 */
function targetOf(path: string, method: string): Op | undefined {
  let pathname = new URL(`http://localhost${path}`).pathname;
  if (pathname.length > 1) pathname = pathname.replace(/\/$/, '');
  return templates.find((x) => x.op.method === method.toUpperCase() && x.pattern.test(pathname))?.op;
}

/** Sends one request and returns what is wrong with the answer (empty when nothing is). */
async function check(o: Op, d: Draft): Promise<string[]> {
  return (await exchange(o, d)).problems;
}

/** Sends one request: its answer, and what is wrong with it. */
async function exchange(o: Op, d: Draft): Promise<{ status: number; text: string; problems: string[] }> {
  const answer = { status: 0, text: '' };
  const problems = await inspect(o, d, answer);
  return { ...answer, problems };
}

async function inspect(o: Op, d: Draft, answer: { status: number; text: string }): Promise<string[]> {
  const { path, init } = finish(o, d);
  const res = await app.request(path, init);
  const target = targetOf(path, d.method);
  requestCount++;
  const id = target?.op.operationId ?? 'undocumented route';
  const counts = tally.get(id) ?? new Map<number, number>();
  counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
  tally.set(id, counts);

  // A stream (Server-Sent Events) does not end: its head is checked, not its body (src/events).
  const streaming = (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
  if (streaming) res.body?.cancel().catch(() => {});
  const text = streaming ? '' : await res.text();
  answer.status = res.status;
  answer.text = text;
  const problems: string[] = [];
  const contentType = res.headers.get('content-type') ?? '';
  if (res.headers.get('x-content-type-options') !== 'nosniff') problems.push('no X-Content-Type-Options: nosniff');
  if (!REQUEST_ID.test(res.headers.get('x-request-id') ?? ''))
    problems.push(`bad X-Request-Id ${res.headers.get('x-request-id')}`);
  if (res.status >= 500) problems.push(`answered ${res.status}`);

  if (res.status >= 400) {
    if (!contentType.startsWith('application/problem+json')) problems.push(`error with content-type ${contentType}`);
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      return [...problems, `error body is not JSON: ${text.slice(0, 200)}`];
    }
    if (typeof body?.code !== 'string') problems.push('problem without a string code');
    if (body?.status !== res.status) problems.push(`problem status ${body?.status} on HTTP ${res.status}`);
    problems.push(...validate(problemSchema, body, true));
    if (/\n\s+at |\.ts:\d+|node_modules/.test(text)) problems.push('error body discloses a stack trace');
    const documented = target ? String(res.status) in target.op.responses : unroutedStatuses.has(String(res.status));
    if (!documented) problems.push(`undocumented status ${res.status}`);
    return problems;
  }

  // CORS answers every OPTIONS itself: a preflight, with no body.
  if (!target && d.method.toUpperCase() === 'OPTIONS' && res.status === 204 && text === '') return problems;
  if (!target) return [...problems, `${d.method} ${path.slice(0, 100)} is not documented but answered ${res.status}`];
  const spec = target.op.responses[String(res.status)];
  if (!spec) return [...problems, `undocumented status ${res.status}`];
  for (const [name, header] of Object.entries(spec.headers ?? {})) {
    if (header.required && !res.headers.has(name)) problems.push(`missing documented header ${name}`);
  }
  const media = Object.keys(spec.content ?? {});
  if (!media.length) {
    if (text !== '') problems.push(`body on a ${res.status} documented without content`);
    return problems;
  }
  if (!media.some((m) => contentType.startsWith(m)))
    problems.push(`${res.status} with content-type ${contentType}, documented ${media}`);
  const json = spec.content!['application/json'];
  if (json && contentType.startsWith('application/json')) {
    try {
      problems.push(...validate(json.schema, JSON.parse(text), true));
    } catch {
      problems.push(`${res.status} body is not JSON`);
    }
  }
  return problems;
}

function describeDraft(o: Op, d: Draft): string {
  const { path, init } = finish(o, d);
  const body =
    init.body === undefined ? '' : typeof init.body === 'string' ? init.body : `<${(init.body as Uint8Array).length} bytes>`;
  return `${d.mutation}: ${init.method} ${path.slice(0, 300)} ${JSON.stringify(init.headers).slice(0, 300)} ${body.slice(0, 300)}`;
}

// ------------------------------------------------------------------ the runs

// Rows for valid requests to find: products 1..40 in three categories (ids are drawn mostly from 1..40), and three empty categories.
for (let i = 1; i <= 40; i++) {
  const res = await t.post('/products', {
    name: `Fuzz product ${i}`,
    price: i * 1.25,
    quantity: i * 3,
    category: `Fuzz ${i % 3}`,
  });
  if (res.status !== 201) throw new Error(`seeding product ${i}: ${res.status} ${await res.text()}`);
}
for (let i = 1; i <= 3; i++) await t.post('/categories', { name: `Empty fuzz category ${i}` });
// Locations 2..40 beside the default one (ids are drawn mostly from 1..40). Locations 2..20 hold stock of
// every product, and open reservations of one unit, for the stock operations to find; 21..40 start empty,
// so that archiving a location, refused while it holds stock, reaches a success whatever the seed.
// Hundreds of stock function calls: on a busy machine longer than the service's statement timeout.
await t.db.admin.begin(async (sql) => {
  await sql`SET LOCAL statement_timeout = 0`;
  await sql`INSERT INTO locations (code, name) SELECT 'FUZZ-' || i, 'Fuzz location ' || i FROM generate_series(2, 40) i`;
  await sql`
    SELECT stock_adjust(p, l.id, 5000, 'received')
    FROM generate_series(1, 40) p, locations l WHERE NOT l.is_default AND l.id <= 20 ORDER BY p, l.id`;
  // Plenty at the default location too, where a reservation without a location goes: most generated
  // quantities (three in four are at most 1000) find enough, so the reservation and transfer runs
  // reach a success whatever the seed.
  await sql`SELECT stock_adjust(p, default_location(), 5000, 'received') FROM generate_series(1, 40) p ORDER BY p`;
});
// 600 of them (25 at each product's levels at locations 2 and 3): the release runs use up most of ids 1..40, and the
// fulfilment runs, which come after, still find open ones among the rest.
await t.db.admin.begin(async (sql) => {
  await sql`SET LOCAL statement_timeout = 0`;
  await sql`
    SELECT stock_reserve(p, l, 1, now() + interval '1 day')
    FROM generate_series(1, 25) r, generate_series(2, 3) l, generate_series(1, 12) p
    ORDER BY r, l, p`;
});
// Webhook subscriptions 1..40 (the document lists /webhooks/{id}, and so its DELETE runs, after its sub-resources).
await t.db.admin`
  INSERT INTO webhooks (url, secret, position)
  SELECT 'http://127.0.0.1:9/fuzz-' || i, 'whsec_' || encode(sha256(i::text::bytea), 'base64'), 0 FROM generate_series(1, 40) i`;
await t.db.sql`DELETE FROM rate_limit_counters`;

describe('every documented operation under generated requests', () => {
  operations.forEach((o, index) => {
    test(`${o.method} ${o.path}: no 500, errors are problem documents, successes match the document`, async () => {
      // Every run is sent even after a failure, so that one bug does not hide the others:
      // each kind of failure is reported once, with the first request that showed it.
      const failures = new Map<string, { count: number; request: string }>();
      await fc.assert(
        fc.asyncProperty(requestArb(o), async (draft) => {
          const first = await exchange(o, draft);
          const problems = first.problems;
          if (draft.repeat) {
            // A repeat with the same key replays the first answer, whatever it was.
            const again = await exchange(o, draft);
            problems.push(...again.problems.map((p) => `on repeat: ${p}`));
            if (again.status !== first.status || again.text !== first.text) {
              problems.push(`repeat answered ${again.status} after ${first.status}`);
            }
          }
          for (const problem of problems) {
            const seen = failures.get(problem);
            if (seen) seen.count++;
            else failures.set(problem, { count: 1, request: describeDraft(o, draft) });
          }
        }),
        { seed: SEED + index, numRuns: RUNS_PER_OPERATION },
      );
      const report = [...failures].map(
        ([problem, { count, request }]) => `${problem} (×${count})
    first: ${request}`,
      );
      expect(report).toEqual([]);
    }, 30_000);
  });

  test('the runs sent enough requests and reached a success on every operation', () => {
    const summary = operations.map((o) => {
      const counts = [...(tally.get(o.op.operationId) ?? new Map())].sort(([a], [b]) => a - b);
      return `  ${o.op.operationId}: ${counts.map(([s, n]) => `${s}×${n}`).join(' ')}`;
    });
    summary.push(
      `  undocumented routes: ${[...(tally.get('undocumented route') ?? new Map())].map(([s, n]) => `${s}×${n}`).join(' ')}`,
    );
    console.log(`fuzz seed ${SEED}: ${requestCount} requests\n${summary.join('\n')}`);
    expect(requestCount).toBeGreaterThanOrEqual(MIN_REQUESTS);
    const withoutSuccess = operations
      .filter((o) => ![...(tally.get(o.op.operationId)?.keys() ?? [])].some((s) => s >= 200 && s < 300))
      .map((o) => o.op.operationId);
    expect(withoutSuccess).toEqual([]);
  });
});

describe('hostile bodies sent to every operation that takes one', () => {
  const bodyOps = operations.filter((o) => jsonTypes(o).length);

  test('each raw body, invalid encoding and wrong content type gets a problem document or a documented success', async () => {
    const failures: string[] = [];
    for (const o of bodyOps) {
      const base: Draft = { method: o.method, params: { id: '1' }, query: [], headers: {}, mutation: 'catalogue' };
      const drafts: Draft[] = [
        ...RAW_BODIES.map((raw) => ({ ...base, body: { raw, contentType: 'application/json' }, mutation: 'raw body' })),
        ...INVALID_UTF8.map((raw) => ({ ...base, body: { raw, contentType: 'application/json' }, mutation: 'invalid UTF-8' })),
        ...WRONG_CONTENT_TYPES.map((contentType) => ({
          ...base,
          body: { raw: '{"name":"ct","price":1}', contentType },
          mutation: `content-type ${contentType}`,
        })),
      ];
      for (const d of drafts) {
        const problems = await check(o, d);
        if (problems.length) failures.push(`${problems.join('; ')}\n  request: ${describeDraft(o, d)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  test('malformed JSON is 400 malformed_json; 10,000 levels of nesting are valid JSON, refused with 422 without a crash', async () => {
    for (const raw of ['', '{', '{"name":"a",}', "{'name':'a'}", 'NaN', '{"price":01}', '['.repeat(60_000)]) {
      const res = await t.request('/products', { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
      expect({ raw: raw.slice(0, 20), status: res.status, code: ((await res.json()) as { code: string }).code }).toEqual({
        raw: raw.slice(0, 20),
        status: 400,
        code: 'malformed_json',
      });
    }
    for (const raw of [DEEP_ARRAY, DEEP_OBJECT, `{"name":${DEEP_ARRAY},"price":1}`]) {
      const res = await t.request('/products', { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
      // Valid JSON, however deep: parsed, then refused by validation (not a body of the right shape).
      expect({ raw: raw.slice(0, 20), status: res.status, code: ((await res.json()) as { code: string }).code }).toEqual({
        raw: raw.slice(0, 20),
        status: 422,
        code: 'validation_failed',
      });
    }
  });

  test('with a key given twice, the value validated is the value stored (the last one)', async () => {
    const refused = await t.request('/products', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"Twice A","price":1,"price":-5}',
    });
    expect(refused.status).toBe(422);
    const accepted = await t.request('/products', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"Twice B","price":-5,"price":2.5,"sku":"bad sku","sku":"TWICE-B"}',
    });
    expect(accepted.status).toBe(201);
    expect(await accepted.json()).toEqual(expect.objectContaining({ name: 'Twice B', price: 2.5, sku: 'TWICE-B' }));
  });

  test('SQL and template injection text is stored and returned verbatim, and the tables survive', async () => {
    const name = "Robert'); DROP TABLE products; -- ${7*7} <script>alert(1)</script>";
    const res = await t.post('/products', { name, price: 1, category: "'; DELETE FROM categories; --" });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: number; name: string };
    expect(created.name).toBe(name);
    const [row] = await t.db.sql<{ name: string }[]>`SELECT name FROM products WHERE id = ${created.id}`;
    expect(row!.name).toBe(name);
    const listed = await t.request(`/products?category=${encodeURIComponent("'; DELETE FROM categories; --")}`);
    expect(((await listed.json()) as { name: string }[]).map((p) => p.name)).toEqual([name]);
  });
});

describe('Idempotency-Key on odd paths', () => {
  test('with a long path (3-6 KB that do not compress) it is a 4xx, never a 500', async () => {
    const opaque = Buffer.from(crypto.getRandomValues(new Uint8Array(3000))).toString('base64url');
    const answers: string[] = [];
    for (const path of [`/products/${opaque}/restore`, `/products/1/stock-adjustments/${opaque}`, `/${opaque}`]) {
      const res = await t.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': `long-path-${path.length}` },
        body: '{}',
      });
      answers.push(`${res.status} ${path.slice(0, 30)}…`);
    }
    expect(answers.filter((a) => !/^4\d\d /.test(a))).toEqual([]);
  });

  test('a POST to a path with no route is 404 whatever its Idempotency-Key, and leaves no idempotency record', async () => {
    for (const key of ['', 'é', 'valid-key-1']) {
      const res = await t.request('/no-such-route', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: '{}',
      });
      expect({ key, status: res.status, code: ((await res.json()) as { code: string }).code }).toEqual({
        key,
        status: 404,
        code: 'not_found',
      });
    }
    const [row] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM idempotency_keys WHERE path = '/no-such-route'`;
    expect(row!.n).toBe(0);
  });
});
