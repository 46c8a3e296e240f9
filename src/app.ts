import { HTTPException } from 'hono/http-exception';
import type { Config } from './config.ts';
import type { Pool } from './db.ts';
import { ApiError, fromDatabaseError, problemResponse } from './errors.ts';
import { categoriesApi } from './categories/index.ts';
import { healthApi } from './health/index.ts';
import { idempotency } from './idempotency/middleware.ts';
import { mountDocs } from './http/docs.ts';
import { limitBody, requestLog } from './http/middleware.ts';
import { createRouter } from './http/router.ts';
import { createLogger, type Logger } from './logger.ts';
import { productsApi } from './products/index.ts';
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

/** Builds the whole HTTP API on a connection pool; the server and the tests both use it. */
export function createApp({ sql, config = {}, logger = createLogger(config.logLevel ?? 'info') }: AppDeps) {
  // strict: false makes "/products/" answer like "/products".
  const app = createRouter({ strict: false });

  app.use('*', requestLog(logger));
  app.use('*', async (c, next) => {
    c.set('sql', sql);
    await next();
  });
  app.use('*', limitBody);
  app.use('*', idempotency);

  app.route('/', healthApi);
  app.route('/', productsApi);
  app.route('/', stockApi);
  app.route('/', categoriesApi);
  app.route('/', reportsApi);

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Inventory API',
      version: '1.0.0',
      description: 'Products by category in PostgreSQL. Errors are RFC 9457 problem documents with a stable `code`.',
    },
    tags: [
      { name: 'Products', description: 'Create, look up and list products' },
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
    if (known) return problemResponse(known, c.req.path);
    logger.error('unhandled error', {
      request_id: c.get('requestId'),
      error: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err),
    });
    return problemResponse(new ApiError('internal_error', 'an unexpected error occurred'), c.req.path);
  });

  return app;
}

export type App = ReturnType<typeof createApp>;
