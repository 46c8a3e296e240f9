import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import { defaultConfig, type Config } from './config.ts';
import type { Pool } from './db.ts';
import { ApiError, fromDatabaseError, problemResponse } from './errors.ts';
import { categoriesApi } from './categories/index.ts';
import { healthApi } from './health/index.ts';
import { createKeyMatcher, requireApiKey } from './http/auth.ts';
import type { AppEnv } from './http/context.ts';
import { mountDocs } from './http/docs.ts';
import { limitBody, limitRequestLine, requestLog } from './http/middleware.ts';
import { createPoolGate } from './http/pool-gate.ts';
import { createRouter } from './http/router.ts';
import { idempotency } from './idempotency/middleware.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics/registry.ts';
import { metricsRoute } from './metrics/routes.ts';
import { productsApi } from './products/index.ts';
import { rateLimit } from './ratelimit/middleware.ts';
import { reportsApi } from './reports/index.ts';
import { stockApi } from './stock/index.ts';

export type AppDeps = {
  sql: Pool;
  config?: Partial<Config>;
  logger?: Logger;
};

const fromHttpException: Record<number, ApiError> = {
  400: new ApiError('malformed_json', 'the body is not valid JSON'),
  413: new ApiError('payload_too_large', 'the body is too large'),
  415: new ApiError('unsupported_media_type', 'send the body as application/json'),
};

/** Routes that never touch the database: no connection slot, no rate limit. */
const STATIC_PATHS = /^\/(healthz|readyz|metrics|openapi\.json|docs(\/.*)?)$/;

function unlessStatic(mw: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> {
  return (c, next) => (STATIC_PATHS.test(c.req.path) ? next() : mw(c, next));
}

/** Builds the whole HTTP API on a connection pool; the server and the tests both use it. */
export function createApp(deps: AppDeps) {
  const config = defaultConfig(deps.config);
  const logger = deps.logger ?? createLogger(config.logLevel, undefined, config.logFormat);
  const { sql } = deps;
  // With a rate limit, one connection is kept for its counting statement (one at a time).
  const gate = createPoolGate(config.poolMax, config.poolWaitMs, config.rateLimitMax > 0 ? 1 : 0);
  const metrics = createMetrics(gate.stats);

  // strict: false makes "/products/" answer like "/products".
  const app = createRouter({ strict: false });

  app.use('*', requestLog(logger));
  app.use('*', metrics.middleware);
  app.use('*', secureHeaders());
  if (config.corsOrigins.length) {
    app.use('*', cors({
      origin: config.corsOrigins,
      allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'If-Match', 'X-Request-Id'],
      exposeHeaders: ['ETag', 'Link', 'Location', 'Idempotent-Replayed', 'X-Request-Id', 'Retry-After'],
      maxAge: 600,
    }));
  }
  app.use('*', limitRequestLine);
  app.use('*', async (c, next) => {
    c.set('sql', sql);
    await next();
  });
  app.use('*', limitBody);
  const matchKey = createKeyMatcher(config.apiKeys);
  // Counted before the key check, so that guessing keys is limited too, and before
  // the pool gate, so that a client over its limit is refused without taking a slot.
  if (config.rateLimitMax > 0) {
    app.use('*', unlessStatic(rateLimit(sql, config.rateLimitMax, config.rateLimitWindowS, config.trustProxy, matchKey)));
  }
  app.use('*', unlessStatic(gate.middleware));
  if (config.apiKeys.length) app.use('*', requireApiKey(matchKey, config.readsRequireKey));
  app.use('*', idempotency);

  app.route('/', healthApi);
  app.route('/', productsApi);
  app.route('/', stockApi);
  app.route('/', categoriesApi);
  app.route('/', reportsApi);
  app.openapi(metricsRoute, async (c) =>
    c.text(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }));

  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'Required for writes when the service runs with API_KEYS (and for reads with API_READS_REQUIRE_KEY=true)',
  });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Inventory API',
      version: '1.0.0',
      description: 'Products by category in PostgreSQL. Errors are RFC 9457 problem documents with a stable `code`.',
    },
    security: [{ apiKey: [] }, {}],
    tags: [
      { name: 'Products', description: 'Create, look up, edit, archive and list products' },
      { name: 'Stock', description: 'Stock adjustments and the stock ledger' },
      { name: 'Categories', description: 'The categories products belong to' },
      { name: 'Reports', description: 'Stock totals and low-stock lists' },
      { name: 'Health', description: 'Liveness and readiness probes' },
    ],
  });
  mountDocs(app, '/openapi.json');

  app.notFound((c) => problemResponse(new ApiError('not_found', `no route for ${c.req.method} ${c.req.path}`), c.req.path));

  app.onError((err, c) => {
    const known = err instanceof ApiError
      ? err
      : err instanceof HTTPException
        ? fromHttpException[err.status]
        : fromDatabaseError(err);
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

  return Object.assign(app, { poolStats: gate.stats, metrics: metrics.registry });
}

export type App = ReturnType<typeof createApp>;
