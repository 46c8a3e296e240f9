import { z } from '@hono/zod-openapi';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * Every error the API can answer with: its stable code, HTTP status and title,
 * and a typical detail (the document's example). Clients branch on `code`;
 * `detail` is for people.
 */
export const problems = {
  malformed_json: { status: 400, title: 'Malformed JSON', detail: 'the body is not valid JSON' },
  unauthorized: { status: 401, title: 'Unauthorized', detail: 'send a valid API key as `Authorization: Bearer <key>`' },
  not_found: { status: 404, title: 'Not found', detail: 'no product with id 42' },
  method_not_allowed: {
    status: 405,
    title: 'Method not allowed',
    detail: 'PUT is not allowed on /products/42; allowed: GET, HEAD, PATCH, DELETE',
  },
  duplicate_sku: { status: 409, title: 'SKU already exists', detail: 'a product with this SKU already exists' },
  duplicate_name: { status: 409, title: 'Product name already exists', detail: 'a product with this name already exists' },
  duplicate_category: { status: 409, title: 'Category already exists', detail: 'a category with this name already exists' },
  duplicate_location: { status: 409, title: 'Location code already exists', detail: 'a location with this code already exists' },
  category_not_empty: {
    status: 409,
    title: 'Category still has products',
    detail: 'the category still has products (archived ones included)',
  },
  insufficient_stock: {
    status: 409,
    title: 'Insufficient stock',
    detail: 'product 42 has fewer than 5 units in stock; nothing was changed',
  },
  quantity_changed: {
    status: 409,
    title: 'Quantity changed',
    detail: 'product 42 at location 1 has 7 on hand, not the expected 9; nothing was changed',
  },
  reservation_closed: {
    status: 409,
    title: 'Reservation not open',
    detail: 'reservation 17 is fulfilled',
  },
  location_in_use: {
    status: 409,
    title: 'Location in use',
    detail: 'location 3 holds stock; move or sell it first',
  },
  request_in_progress: {
    status: 409,
    title: 'Request in progress',
    detail: 'a request with this Idempotency-Key is still running; retry later',
  },
  precondition_failed: {
    status: 412,
    title: 'Precondition failed',
    detail: 'the product changed since the ETag in If-Match; fetch it again',
  },
  payload_too_large: { status: 413, title: 'Payload too large', detail: 'the body exceeds 65536 bytes' },
  uri_too_long: { status: 414, title: 'URI too long', detail: 'the URL exceeds 8192 bytes' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type', detail: 'send the body as application/json' },
  validation_failed: { status: 422, title: 'Validation failed', detail: 'the request body has 1 invalid field' },
  idempotency_key_reused: {
    status: 422,
    title: 'Idempotency key reused',
    detail: 'this Idempotency-Key was used with a different request body',
  },
  address_not_allowed: {
    status: 422,
    title: 'Receiver address not allowed',
    detail: 'the URL must reach a public address: localhost resolves to 127.0.0.1, a loopback address',
  },
  host_not_found: {
    status: 422,
    title: 'Receiver host not found',
    detail: 'the URL must name a host that resolves: hooks.example.invalid: no address found',
  },
  rate_limited: { status: 429, title: 'Too many requests', detail: 'more than 100 requests in 60 s; retry in 12 s' },
  request_header_fields_too_large: {
    status: 431,
    title: 'Request header fields too large',
    detail: 'the request headers exceed 16384 bytes',
  },
  internal_error: { status: 500, title: 'Internal server error', detail: 'an unexpected error occurred' },
  database_unavailable: { status: 503, title: 'Database unavailable', detail: 'the database is not available; retry shortly' },
  too_many_streams: {
    status: 503,
    title: 'Too many streams',
    detail: 'this process serves 100 event streams already; retry shortly',
  },
} as const satisfies Record<string, { status: ContentfulStatusCode; title: string; detail: string }>;

export type ProblemCode = keyof typeof problems;
export type FieldError = { path: string; message: string };

export class ApiError extends Error {
  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly errors?: FieldError[],
    /** Extra response headers, such as Retry-After or WWW-Authenticate. */
    readonly headers?: Record<string, string>,
  ) {
    super(detail);
  }
  get status(): ContentfulStatusCode {
    return problems[this.code].status;
  }
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function problemBody(error: ApiError, instance?: string) {
  return {
    type: `urn:inventory:problem:${error.code}`,
    title: problems[error.code].title,
    status: error.status,
    code: error.code,
    detail: error.detail,
    ...(instance ? { instance } : {}),
    ...(error.errors ? { errors: error.errors } : {}),
  };
}

export function problemResponse(error: ApiError, instance?: string): Response {
  return new Response(JSON.stringify(problemBody(error, instance)), {
    status: error.status,
    headers: { ...error.headers, 'content-type': PROBLEM_CONTENT_TYPE },
  });
}

// ---------------------------------------------------------------- PostgreSQL

/** Unique constraints (indexes) and the conflict each one means. */
const uniqueViolations: Record<string, [ProblemCode, string]> = {
  products_sku_key: ['duplicate_sku', 'a product with this SKU already exists'],
  products_name_key: ['duplicate_name', 'a product with this name already exists'],
  categories_name_key: ['duplicate_category', 'a category with this name already exists'],
  locations_code_key: [
    'duplicate_location',
    'a location with this code already exists (codes are unique in any case, archived locations included)',
  ],
};

/** SQLSTATE classes and client-side codes that mean the database cannot be reached or is going away. */
const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  // A database machine that is down or cut off (its host no longer answers on the network).
  'EHOSTUNREACH',
  'ENETUNREACH',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  // Every host of a several-host DATABASE_URL is a standby: no primary right now (during a failover).
  'TARGET_SESSION_ATTRS_MISMATCH',
  // A read-only transaction: the session is on a standby (a primary demoted under it, or a URL naming a standby).
  '25006',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '57014',
  // A deadlock or serialization failure: PostgreSQL rolled this transaction back; the same request may succeed.
  '40P01',
  '40001',
]);

type DriverError = { code?: unknown; constraint_name?: unknown; errno?: unknown; message?: unknown };

/** The SQLSTATEs the stock functions raise, and what they mean. */
const stockRefusals: Record<string, ProblemCode> = {
  IV001: 'not_found',
  IV002: 'not_found',
  IV003: 'insufficient_stock',
  IV004: 'quantity_changed',
  IV005: 'not_found',
  IV006: 'reservation_closed',
  IV007: 'location_in_use',
};

/**
 * Turns a database error into the API error it means, or null when it is a bug.
 * The driver's message is never passed on: it can hold SQL and data.
 */
export function fromDatabaseError(error: unknown): ApiError | null {
  if (!error || typeof error !== 'object') return null;
  const { code, constraint_name: constraint, message } = error as DriverError;
  if (typeof code !== 'string') return null;
  if (code === '23505' && typeof constraint === 'string' && uniqueViolations[constraint]) {
    const [problem, detail] = uniqueViolations[constraint];
    return new ApiError(problem, detail);
  }
  if (code === '23503' && constraint === 'products_category_id_fkey') {
    // PostgreSQL names the referencing table (products) on both sides of this
    // key, so only the statement tells them apart: the DELETE of a category maps
    // its own violation to category_not_empty (src/categories/queries.ts), and
    // product writes lock their category first. Reaching here, a product write
    // named a category deleted meanwhile.
    return new ApiError('not_found', 'the category was deleted while the product was written; send the request again');
  }
  // The stock functions' own refusals (db/migrations/20261130000009_stock_locations.sql): their
  // messages are written for people and name only ids and quantities.
  const stock = stockRefusals[code];
  if (stock) {
    if (typeof message !== 'string') return new ApiError(stock, problems[stock].detail);
    return new ApiError(stock, stock === 'not_found' ? message : `${message}; nothing was changed`);
  }
  // Class 22 is "data exception": a value the database cannot take (NUL in text, impossible date, overflow).
  if (code === '23514' || code === '23502' || code.startsWith('22')) {
    return new ApiError('validation_failed', 'the value breaks a rule of the catalog', [
      { path: typeof constraint === 'string' ? constraint : 'body', message: 'refused by the database' },
    ]);
  }
  if (unavailableCodes.has(code) || code.startsWith('08')) {
    return new ApiError('database_unavailable', 'the database is not available; retry shortly', undefined, {
      'retry-after': '1',
    });
  }
  return null;
}

// ---------------------------------------------------------------- OpenAPI

export const FieldErrorSchema = z
  .object({
    path: z.string().openapi({ example: 'price' }),
    message: z.string().openapi({ example: 'must have at most 2 decimals' }),
  })
  .openapi('FieldError');

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'urn:inventory:problem:validation_failed' }),
    title: z.string().openapi({ example: 'Validation failed' }),
    status: z.number().int().openapi({ example: 422 }),
    code: z.enum(Object.keys(problems) as [ProblemCode, ...ProblemCode[]]).openapi({ example: 'validation_failed' }),
    detail: z.string().openapi({ example: 'the request has 1 invalid field' }),
    instance: z.string().optional().openapi({ example: '/products' }),
    errors: z.array(FieldErrorSchema).optional(),
  })
  .openapi('Problem', { description: 'An RFC 9457 problem document' });

/** When each code is answered, in the words of the document. */
const whenAnswered: Record<ProblemCode, string> = {
  malformed_json: 'The body is not valid JSON',
  unauthorized:
    'The service runs with API_KEYS and no valid `Authorization: Bearer <key>` was sent ' +
    '(writes; reads too with API_READS_REQUIRE_KEY=true)',
  not_found: 'No such resource',
  method_not_allowed: 'The path exists but does not take this method; `Allow` lists the methods it takes',
  duplicate_sku: 'A product with this SKU already exists',
  duplicate_name: 'A product with this name already exists',
  duplicate_category: 'A category with this name already exists',
  duplicate_location: 'A location with this code already exists, in any case, archived ones included',
  category_not_empty: 'The category still has products, archived ones included',
  insufficient_stock: 'Not enough units in stock; nothing was changed',
  quantity_changed: 'The level does not hold `expected_on_hand`; nothing was changed',
  reservation_closed: 'The reservation was released, fulfilled or has expired',
  location_in_use: 'The location holds stock or open reservations, or is the default one',
  request_in_progress: 'A request with this Idempotency-Key is still running',
  precondition_failed: 'If-Match does not name the current version',
  payload_too_large: 'The body is larger than 64 KiB',
  uri_too_long: 'The URL is longer than 8 KiB',
  unsupported_media_type: 'The body is not sent as JSON',
  validation_failed: 'Invalid input, every bad field listed in `errors`',
  idempotency_key_reused: 'The Idempotency-Key was used before with another body',
  address_not_allowed:
    "The webhook URL's host is, or resolves to, an address receivers may not have (loopback, private, link-local, " +
    'metadata, ...) while the service runs without WEBHOOK_ALLOW_PRIVATE',
  host_not_found: "The webhook URL's host does not resolve to any address",
  rate_limited: 'Too many requests from this client (RATE_LIMIT_MAX); see Retry-After',
  request_header_fields_too_large: 'The request headers are larger than 16 KiB',
  internal_error: 'Unexpected error, no internals disclosed',
  database_unavailable: 'The database is unavailable or busy; see Retry-After',
  too_many_streams: 'The process serves EVENTS_STREAM_MAX event streams already, or is stopping; see Retry-After',
};

const counter = (example: string) => ({ type: 'string', pattern: '^\\d+$', example });

/** The response headers the API sends, as components; responses refer to them by name. */
export const responseHeaders = {
  'X-Request-Id': {
    description: "The request's id: the X-Request-Id sent (1..128 of A-Z a-z 0-9 . _ : -) or a generated UUID",
    required: true,
    schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$', example: '0b6f1f9e-5c1a-4d8e-9a3e-2f4f1f0d9c11' },
  },
  'Retry-After': { description: 'Seconds to wait before retrying', required: true, schema: counter('1') },
  'RateLimit-Limit': {
    description: 'Requests allowed per window (when the service runs with RATE_LIMIT_MAX)',
    schema: counter('100'),
  },
  'RateLimit-Remaining': { description: 'Requests left in the current window (with RATE_LIMIT_MAX)', schema: counter('99') },
  'RateLimit-Reset': { description: 'Seconds until the window resets (with RATE_LIMIT_MAX)', schema: counter('42') },
  'Idempotent-Replayed': {
    description: 'Present on the stored answer to an earlier request with the same Idempotency-Key; nothing ran again',
    schema: { type: 'string', enum: ['true'], example: 'true' },
  },
  'Consistency-Token': {
    description:
      "With DATABASE_READ_URL (reads on standbys): the primary's WAL position once this write committed. Send it " +
      'back as the `consistency-token` header of a read to be answered from a server that has this write.',
    schema: { type: 'string', pattern: '^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$', example: '0/3000148' },
  },
  Allow: {
    description: 'The methods the path takes',
    required: true,
    schema: { type: 'string', example: 'GET, HEAD, PATCH, DELETE' },
  },
  'WWW-Authenticate': {
    description: 'The authentication scheme to use',
    required: true,
    schema: { type: 'string', example: 'Bearer realm="inventory"' },
  },
} as const;

export type ResponseHeaderName = keyof typeof responseHeaders;
export const headerRef = (name: ResponseHeaderName) => ({ $ref: `#/components/headers/${name}` });

/** Headers a problem status always carries. */
const statusHeaders: Record<number, ResponseHeaderName[]> = {
  401: ['WWW-Authenticate'],
  405: ['Allow'],
  429: ['Retry-After'],
  503: ['Retry-After'],
};

/** The document's example of a problem with `code`. */
function exampleOf(code: ProblemCode) {
  const errors = code === 'validation_failed' ? [{ path: 'price', message: 'must have at most 2 decimals' }] : undefined;
  return problemBody(new ApiError(code, problems[code].detail, errors), '/products/42');
}

/** One status's problem response: what each of its codes means, an example of each, and its headers. */
export function problemResponseObject(status: number, codes: readonly ProblemCode[], schema: unknown) {
  const names = statusHeaders[status] ?? [];
  return {
    description: codes.map((code) => `${whenAnswered[code]} (\`${code}\`)`).join('; '),
    // Allow is written out: only 405 uses it, which is not an operation's answer (x-unrouted-requests).
    ...(names.length
      ? { headers: Object.fromEntries(names.map((name) => [name, name === 'Allow' ? responseHeaders.Allow : headerRef(name)])) }
      : {}),
    content: {
      [PROBLEM_CONTENT_TYPE]: {
        schema,
        examples: Object.fromEntries(codes.map((code) => [code, { summary: problems[code].title, value: exampleOf(code) }])),
      },
    },
  };
}

function byStatus(codes: Iterable<ProblemCode>): Map<number, ProblemCode[]> {
  const grouped = new Map<number, ProblemCode[]>();
  for (const code of new Set(codes)) {
    const status = problems[code].status;
    grouped.set(status, [...(grouped.get(status) ?? []), code]);
  }
  return grouped;
}

/**
 * The error responses of a route that uses the database: the codes it answers
 * with, grouped by status, plus 500 and 503. Answers every route shares
 * (401, 413, 414, 429, 431) are added to the document from the middleware's
 * own rules (src/app.ts).
 */
export function errorResponses(codes: readonly ProblemCode[]) {
  const grouped = byStatus([...codes, 'internal_error', 'database_unavailable']);
  return Object.fromEntries([...grouped.keys()].sort().map((s) => [s, problemResponseObject(s, grouped.get(s)!, ProblemSchema)]));
}

/** Adds `codes` to a generated document's responses, merging them into a status already documented. */
export function addProblemResponses(responses: Record<string, any>, codes: readonly ProblemCode[]) {
  const schema = { $ref: '#/components/schemas/Problem' };
  for (const [status, added] of byStatus(codes)) {
    const existing = Object.keys(responses[status]?.content?.[PROBLEM_CONTENT_TYPE]?.examples ?? {}) as ProblemCode[];
    const all = [...new Set([...existing, ...added])];
    responses[status] = problemResponseObject(status, all, schema);
  }
}

/** What a body route may answer before its handler runs. */
export const bodyErrors: ProblemCode[] = ['malformed_json', 'payload_too_large', 'unsupported_media_type', 'validation_failed'];
