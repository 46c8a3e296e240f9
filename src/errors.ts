import { z } from '@hono/zod-openapi';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * Every error the API can answer with: its stable code, HTTP status and title.
 * Clients branch on `code`; `detail` is for people.
 */
export const problems = {
  malformed_json: { status: 400, title: 'Malformed JSON' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  not_found: { status: 404, title: 'Not found' },
  duplicate_sku: { status: 409, title: 'SKU already exists' },
  duplicate_name: { status: 409, title: 'Product name already exists' },
  duplicate_category: { status: 409, title: 'Category already exists' },
  category_not_empty: { status: 409, title: 'Category still has products' },
  insufficient_stock: { status: 409, title: 'Insufficient stock' },
  request_in_progress: { status: 409, title: 'Request in progress' },
  precondition_failed: { status: 412, title: 'Precondition failed' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  uri_too_long: { status: 414, title: 'URI too long' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  validation_failed: { status: 422, title: 'Validation failed' },
  idempotency_key_reused: { status: 422, title: 'Idempotency key reused' },
  rate_limited: { status: 429, title: 'Too many requests' },
  request_header_fields_too_large: { status: 431, title: 'Request header fields too large' },
  internal_error: { status: 500, title: 'Internal server error' },
  database_unavailable: { status: 503, title: 'Database unavailable' },
} as const satisfies Record<string, { status: ContentfulStatusCode; title: string }>;

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
};

/** SQLSTATE classes and client-side codes that mean the database cannot be reached or is going away. */
const unavailableCodes = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN',
  'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED',
  '57P01', '57P02', '57P03', '53300', '57014',
]);

type DriverError = { code?: unknown; constraint_name?: unknown; errno?: unknown };

/**
 * Turns a database error into the API error it means, or null when it is a bug.
 * The driver's message is never passed on: it can hold SQL and data.
 */
export function fromDatabaseError(error: unknown): ApiError | null {
  if (!error || typeof error !== 'object') return null;
  const { code, constraint_name: constraint } = error as DriverError;
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

const descriptions: Record<number, string> = {
  400: 'Malformed JSON (`malformed_json`)',
  401: 'Missing or wrong API key (`unauthorized`)',
  404: 'Not found (`not_found`)',
  409: 'Conflict with existing data',
  412: 'The If-Match ETag is not the current version (`precondition_failed`)',
  413: 'Body larger than 64 KiB (`payload_too_large`)',
  415: 'Body is not JSON (`unsupported_media_type`)',
  422: 'Invalid input (`validation_failed`), every bad field listed in `errors`',
  429: 'Too many requests from this client (`rate_limited`); see Retry-After',
  500: 'Unexpected error (`internal_error`), no internals disclosed',
  503: 'Database unavailable (`database_unavailable`)',
};

const problemResponseSpec = (status: number, description?: string) => ({
  description: description ?? descriptions[status] ?? 'Error',
  content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
});

/** The error responses a route documents; every route has 429, 500 and 503, body routes 400/413/415/422. */
export function errorResponses(statuses: number[], overrides: Record<number, string> = {}) {
  const all = new Set([...statuses, 429, 500, 503]);
  return Object.fromEntries([...all].sort().map((s) => [s, problemResponseSpec(s, overrides[s])]));
}

export const bodyErrors = [400, 413, 415, 422];
