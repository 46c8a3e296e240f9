import type { Context, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import { defaultConfig, type Config } from './config.ts';
import type { Pool } from './db.ts';
import { createReadRouting, TOKEN_HEADER, TOKEN_PATTERN } from './db-read.ts';
import {
  addProblemResponses,
  ApiError,
  fromDatabaseError,
  headerRef,
  problemResponse,
  responseHeaders,
  type ProblemCode,
} from './errors.ts';
import { categoriesApi } from './categories/index.ts';
import { eventsApi } from './events/index.ts';
import { createEventStreams } from './events/streams.ts';
import { healthApi } from './health/index.ts';
import { createKeyMatcher, requireApiKey } from './http/auth.ts';
import type { AppEnv } from './http/context.ts';
import { DOCS_AREA, mountDocs } from './http/docs.ts';
import { locationsApi } from './locations/index.ts';
import { limitBody, limitRequestLine, requestLog } from './http/middleware.ts';
import { createPoolGate } from './http/pool-gate.ts';
import { PIPELINED, policyOf, POOLED, READ_FROM, type RoutePolicy } from './http/route-policy.ts';
import { createRouteTable, type RequestPolicy } from './http/route-table.ts';
import { createRouter } from './http/router.ts';
import { idempotency } from './idempotency/middleware.ts';
import { createLogger, type Logger } from './logger.ts';
import { Gauge } from 'prom-client';
import { createMetrics } from './metrics/registry.ts';
import { metricsRoute } from './metrics/routes.ts';
import { productsApi } from './products/index.ts';
import { rateLimit } from './ratelimit/middleware.ts';
import { reportsApi } from './reports/index.ts';
import { reservationsApi } from './reservations/index.ts';
import { stockApi } from './stock/index.ts';
import { transfersApi } from './transfers/index.ts';
import { webhooksApi } from './webhooks/index.ts';

/** The middleware layers every request passes, outermost first (see createApp). */
export const LAYERS = [
  'request-log',
  'metrics',
  'secure-headers',
  'cors',
  'request-limits',
  'body-limit',
  'rate-limit',
  'pool-gate',
  'api-key',
  'read-routing',
  'idempotency',
] as const;
export type Layer = (typeof LAYERS)[number];

export type AppDeps = {
  sql: Pool;
  config?: Partial<Config>;
  logger?: Logger;
  /**
   * Layers left out, so that bench/layers.ts can measure what each one costs a request.
   * The server and the tests never set it: every layer that its settings call for runs.
   */
  without?: readonly Layer[];
};

const fromHttpException: Record<number, ApiError> = {
  400: new ApiError('malformed_json', 'the body is not valid JSON'),
  413: new ApiError('payload_too_large', 'the body is too large'),
  415: new ApiError('unsupported_media_type', 'send the body as application/json'),
};

/** The routes outside the document (it, and the explorer): no key, no connection slot, no rate limit. */
const UNDOCUMENTED: RoutePolicy = { key: 'never', pooled: false };
/** A request no operation takes, as the document describes it: it may need a key, and it is pooled. */
const UNROUTED: RoutePolicy = { key: 'always', pooled: true };

/** Statuses a replayed Idempotency-Key answer can have: those of the operation itself, not of the layers before it. */
const REPLAYABLE = /^(2..|400|404|409|412|415|422)$/;
const RATE_LIMIT_HEADERS = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'] as const;
/** The methods that write: their 2xx answers carry a Consistency-Token with DATABASE_READ_URL. */
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Headers that describe a successful answer's representation. */
const SUCCESS_HEADERS = ['etag', 'location', 'link'];

/**
 * Adds to a generated document what the middleware answers on every route,
 * from the same rules the middleware follows: 414/431 everywhere (limitRequestLine),
 * 413 everywhere (limitBody: any request may carry a body), 429/503 and RateLimit-* wherever the
 * pool gate and the rate limit run, 401 wherever a key can be required (both as
 * each operation declares them: src/http/route-policy.ts), Idempotent-Replayed
 * where an Idempotency-Key is taken, X-Request-Id on every response,
 * Consistency-Token on the 2xx answers of writes and as a request header of
 * the reads a standby may serve (src/db-read.ts; sent only with DATABASE_READ_URL).
 */
function documentMiddlewareAnswers(document: Record<string, any>) {
  const documentOperation = (operation: Record<string, any>, { key, pooled, standby }: RoutePolicy, method?: string) => {
    delete operation[POOLED];
    delete operation[READ_FROM];
    delete operation[PIPELINED];
    const responses: Record<string, any> = (operation.responses ??= {});
    const codes: ProblemCode[] = ['uri_too_long', 'request_header_fields_too_large'];
    // Every method: a GET may carry a body too, and one over the limit is refused like any other.
    codes.push('payload_too_large');
    if (pooled) codes.push('rate_limited', 'database_unavailable');
    if (key !== 'never') codes.push('unauthorized');
    if (standby) {
      codes.push('validation_failed');
      (operation.parameters ??= []).push(CONSISTENCY_TOKEN_PARAMETER);
    }
    addProblemResponses(responses, codes);
    const write = pooled && method !== undefined && WRITES.has(method);
    const idempotent = (operation.parameters ?? []).some(
      (p: { name: string; in: string }) => p.in === 'header' && p.name === 'idempotency-key',
    );
    for (const [status, response] of Object.entries<Record<string, any>>(responses)) {
      const headers: Record<string, unknown> = (response.headers ??= {});
      headers['X-Request-Id'] = headerRef('X-Request-Id');
      if (pooled) for (const name of RATE_LIMIT_HEADERS) headers[name] = headerRef(name);
      if (idempotent && REPLAYABLE.test(status)) headers['Idempotent-Replayed'] = headerRef('Idempotent-Replayed');
      if (write && status.startsWith('2')) headers[TOKEN_HEADER] = headerRef(TOKEN_HEADER);
    }
  };
  for (const [path, item] of Object.entries<Record<string, any>>(document.paths ?? {})) {
    for (const [method, operation] of Object.entries<Record<string, any>>(item)) {
      documentOperation(operation, policyOf(`${method.toUpperCase()} ${path}`, operation), method.toUpperCase());
    }
  }
  // A request no operation takes: an unknown path (404) or a method the path does not take (405).
  const unrouted = { responses: {} as Record<string, any> };
  addProblemResponses(unrouted.responses, ['not_found', 'method_not_allowed']);
  documentOperation(unrouted, UNROUTED);
  document['x-unrouted-requests'] = {
    description:
      'The answers to a request that matches no operation: 404 `not_found` for an unknown path, 405 ' +
      '`method_not_allowed` (with `Allow`) for a path that does not take the method, or what the middleware ' +
      'answers before routing (401, 413, 414, 429, 431, 503).',
    responses: unrouted.responses,
  };
  const { Allow: _, ...headers } = responseHeaders;
  document.components = { ...document.components, headers };
  return document;
}

/** The Consistency-Token a read may send (src/db-read.ts). */
const CONSISTENCY_TOKEN_PARAMETER = {
  name: TOKEN_HEADER.toLowerCase(),
  in: 'header',
  required: false,
  description:
    'With DATABASE_READ_URL (reads on standbys): the `Consistency-Token` of a write this client made, such as ' +
    '`0/3000148`. The read is then answered from a server that has that write (a standby that replayed that far, ' +
    'or else the primary). Without it, a standby serves the read only while it lags at most DB_READ_MAX_LAG_MS. ' +
    'Ignored without DATABASE_READ_URL.',
  // No example: the explorer would send it with every read.
  schema: { type: 'string', pattern: TOKEN_PATTERN },
};

/** Builds the whole HTTP API on a connection pool; the server and the tests both use it. */
export function createApp(deps: AppDeps) {
  const config = defaultConfig(deps.config);
  const logger = deps.logger ?? createLogger(config.logLevel, undefined, config.logFormat);
  const { sql } = deps;
  // With a rate limit, one connection is kept for its counting statement (one at a time).
  // Reads share connections (pipelined) only where statements stay on their connection: not behind PgBouncer.
  const gate = createPoolGate(
    config.poolMax,
    config.poolWaitMs,
    config.rateLimitMax > 0 ? 1 : 0,
    config.dbPrepare ? config.poolPipelineDepth : 1,
  );
  const metrics = createMetrics(gate.stats);
  // Reads on standbys: nothing of it, not even a header read, without DATABASE_READ_URL.
  const { databaseReadUrl } = config;
  const readRouting = databaseReadUrl
    ? createReadRouting(sql, { ...config, databaseReadUrl }, logger, metrics.registry)
    : undefined;
  // Streams read the feed through the gate, one read at a time, and hold no slot while they wait.
  const eventStreams = createEventStreams(sql, logger, {
    max: config.eventsStreamMax,
    pollMs: config.eventsStreamPollMs,
    listen: config.eventsListen,
    gate: (read) => gate.hold(true, read),
  });
  new Gauge({
    name: 'events_streams_open',
    help: 'Event streams (GET /events/stream) open',
    registers: [metrics.registry],
    collect() {
      this.set(eventStreams.count());
    },
  });

  // strict: false makes "/products/" answer like "/products".
  const app = createRouter({ strict: false });

  const omitted = new Set(deps.without);
  const use = (layer: Layer, middleware: MiddlewareHandler<AppEnv>) => {
    if (!omitted.has(layer)) app.use('*', middleware);
  };
  use('request-log', requestLog(logger));
  use('metrics', metrics.middleware);
  use('secure-headers', secureHeaders());
  if (config.corsOrigins.length) {
    use(
      'cors',
      cors({
        origin: config.corsOrigins,
        allowHeaders: [
          'Authorization',
          'Content-Type',
          'Idempotency-Key',
          'If-Match',
          'X-Request-Id',
          'Last-Event-ID',
          TOKEN_HEADER,
        ],
        exposeHeaders: [
          'ETag',
          'Link',
          'Location',
          'Idempotent-Replayed',
          'X-Request-Id',
          'Retry-After',
          'Events-Last-Position',
          TOKEN_HEADER,
        ],
        maxAge: 600,
      }),
    );
  }
  use('request-limits', limitRequestLine);
  app.use('*', async (c, next) => {
    c.set('sql', sql);
    c.set('eventStreams', eventStreams);
    await next();
  });
  use('body-limit', limitBody);
  const matchKey = createKeyMatcher(config.apiKeys);
  // Counted before the key check, so that guessing keys is limited too, and before
  // the pool gate, so that a client over its limit is refused without taking a slot.
  // Each layer asks the matched route's declaration whether it applies (policyFor, set at the end).
  let policyFor: (c: Context<AppEnv>) => RequestPolicy = () => {
    throw new Error('the route table is built once every route is registered');
  };
  if (config.rateLimitMax > 0) {
    const limit = rateLimit(sql, config.rateLimitMax, config.rateLimitWindowS, config.trustProxy, matchKey);
    use('rate-limit', (c, next) => (policyFor(c).pooled ? limit(c, next) : next()));
  }
  use('pool-gate', (c, next) => {
    const { pooled, pipelined = false } = policyFor(c);
    return pooled ? gate.hold(pipelined, next) : next();
  });
  if (config.apiKeys.length) {
    const checkKey = requireApiKey(matchKey);
    use('api-key', (c, next) => (policyFor(c).needsKey ? checkKey(c, next) : next()));
  }
  if (readRouting) {
    const { route, token } = readRouting;
    // The token is asked after the idempotent transaction (the next layer) committed.
    use('read-routing', (c, next) => (WRITES.has(c.req.method) && policyFor(c).pooled ? token(c, next) : next()));
    use('read-routing', (c, next) => (policyFor(c).standby ? route(c, next) : next()));
  }
  use('idempotency', idempotency);

  app.route('/', healthApi);
  app.route('/', productsApi);
  app.route('/', stockApi);
  app.route('/', transfersApi);
  app.route('/', reservationsApi);
  app.route('/', categoriesApi);
  app.route('/', reportsApi);
  app.route('/', locationsApi);
  app.route('/', eventsApi);
  app.route('/', webhooksApi({ allowPrivate: config.webhookAllowPrivate }));
  app.openapi(metricsRoute, async (c) =>
    c.text(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }),
  );

  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'Required for writes when the service runs with API_KEYS (and for reads with API_READS_REQUIRE_KEY=true)',
  });
  const documentConfig = {
    openapi: '3.1.0',
    info: {
      title: 'Inventory API',
      version: '1.0.0',
      description:
        'Products by category in PostgreSQL. Errors are RFC 9457 problem documents with a stable `code`. ' +
        'A request no operation takes is answered 404 `not_found` (unknown path) or 405 `method_not_allowed` with ' +
        '`Allow` (a method the path does not take); `x-unrouted-requests` documents those answers.',
    },
    security: [{ apiKey: [] }, {}],
    tags: [
      { name: 'Products', description: 'Create, look up, edit, archive and list products' },
      { name: 'Stock', description: 'Stock adjustments and the stock ledger' },
      { name: 'Transfers', description: 'Stock moved between locations' },
      { name: 'Reservations', description: 'Stock held for an order until it expires, is released or is fulfilled' },
      { name: 'Categories', description: 'The categories products belong to' },
      { name: 'Locations', description: 'Where stock is kept, and the stock levels of each product at each location' },
      { name: 'Reports', description: 'Stock totals and low-stock lists' },
      { name: 'Events', description: 'Every change, in commit order: a feed to poll and a live stream' },
      { name: 'Webhooks', description: 'Events POSTed to your receivers, signed (Standard Webhooks), at least once, in order' },
      { name: 'Health', description: 'Liveness and readiness probes' },
    ],
  } as const;
  // Built once, on first request: the routes do not change after start-up.
  let document: Record<string, unknown> | undefined;
  app.get('/openapi.json', (c) =>
    c.json((document ??= documentMiddlewareAnswers(app.getOpenAPI31Document(structuredClone(documentConfig) as never)))),
  );
  const docsPaths = mountDocs(app, '/openapi.json');

  policyFor = createRouteTable(
    app.routes,
    {
      definitions: app.openAPIRegistry.definitions,
      undocumented: Object.fromEntries(['/openapi.json', ...docsPaths].map((path) => [`GET ${path}`, UNDOCUMENTED])),
      openAreas: [DOCS_AREA],
    },
    config.readsRequireKey,
  );

  app.notFound((c) => {
    const { method, path } = c.req;
    const { allow } = policyFor(c);
    if (allow && !allow.includes(method)) {
      return problemResponse(
        new ApiError('method_not_allowed', `${method} is not allowed on ${path}; allowed: ${allow.join(', ')}`, undefined, {
          allow: allow.join(', '),
        }),
        path,
      );
    }
    return problemResponse(new ApiError('not_found', `no route for ${method} ${path}`), path);
  });

  app.onError((err, c) => {
    // An error after the handler answered (the idempotent transaction failing to commit): Hono copies
    // the headers of that answer onto ours, and an error describes no product (no ETag, Location, Link).
    if (c.finalized) for (const name of SUCCESS_HEADERS) c.res.headers.delete(name);
    const known =
      err instanceof ApiError ? err : err instanceof HTTPException ? fromHttpException[err.status] : fromDatabaseError(err);
    const dbCode = (err as { code?: unknown }).code;
    if (!(err instanceof ApiError) && !(err instanceof HTTPException) && typeof dbCode === 'string') {
      metrics.databaseError(dbCode);
    }
    if (known) {
      if (known.code === 'database_unavailable') {
        logger.warn('database unavailable', { request_id: c.get('requestId'), cause: (err as { code?: string }).code });
      }
      return problemResponse(known, c.req.path);
    }
    logger.error('unhandled error', {
      request_id: c.get('requestId'),
      error: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err),
    });
    return problemResponse(new ApiError('internal_error', 'an unexpected error occurred'), c.req.path);
  });

  return Object.assign(app, {
    poolStats: gate.stats,
    metrics: metrics.registry,
    eventStreams,
    readRouting,
    /** Ends what the app opened itself (the standbys' pool and its poll); the caller ends `sql`. */
    close: async () => {
      await readRouting?.close();
    },
  });
}

export type App = ReturnType<typeof createApp>;
