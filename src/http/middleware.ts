import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError, problemResponse } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { AppEnv } from './context.ts';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Honours or assigns X-Request-Id and writes one log line per request. */
export function requestLog(logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const given = c.req.header('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    c.set('requestId', requestId);
    c.set('logger', logger);
    await next();
    // On the answer's own headers: c.header() on an answer already made copies the whole Response.
    c.res.headers.set('X-Request-Id', requestId);
    logger.info('request', {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
      request_id: requestId,
    });
  };
}

export const MAX_BODY_BYTES = 64 * 1024;

/** Refuses bodies over 64 KiB while they stream in, before they are buffered whole. */
export const limitBody: MiddlewareHandler<AppEnv> = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: (c) => problemResponse(new ApiError('payload_too_large', `the body exceeds ${MAX_BODY_BYTES} bytes`), c.req.path),
});

export const MAX_URL_BYTES = 8 * 1024;
export const MAX_HEADER_BYTES = 16 * 1024;
/**
 * Bun's own limit on a request head (`bun --max-http-header-size`, default
 * 16 KiB) must be above ours, or Bun answers a bare 431 before the app sees the
 * request: run.sh and the Docker image start Bun with this much. A head larger
 * still is refused by Bun itself (431, no body) and the connection closed.
 */
export const SERVER_HEADER_BYTES = 64 * 1024;

/** Refuses over-long URLs (414) and header blocks (431) before any work is done. */
export const limitRequestLine: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.url.length > MAX_URL_BYTES) {
    throw new ApiError('uri_too_long', `the URL exceeds ${MAX_URL_BYTES} bytes`);
  }
  let size = 0;
  c.req.raw.headers.forEach((value, name) => {
    size += name.length + value.length + 4;
  });
  if (size > MAX_HEADER_BYTES) {
    throw new ApiError('request_header_fields_too_large', `the request headers exceed ${MAX_HEADER_BYTES} bytes`);
  }
  await next();
};
