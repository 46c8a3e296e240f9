import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from 'hono/bun';
import { createHash } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { countRequest, purgeOldWindows } from './queries.ts';

/** Who a request counts against: its API key when it sends one, else its address. */
export function clientOf(c: Context<AppEnv>, trustProxy: boolean): string {
  const auth = c.req.header('authorization');
  if (auth) return `key:${createHash('sha256').update(auth).digest('hex').slice(0, 32)}`;
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
    if (forwarded) return `ip:${forwarded}`;
  }
  try {
    return `ip:${getConnInfo(c).remote.address ?? 'unknown'}`;
  } catch {
    return 'ip:unknown'; // requests made in-process (app.request) have no socket
  }
}

/**
 * Fixed-window rate limit per client, counted in PostgreSQL so that every API
 * process shares it. Answers 429 with Retry-After when a client is over.
 */
export function rateLimit(max: number, windowS: number, trustProxy: boolean): MiddlewareHandler<AppEnv> {
  let lastPurge = 0;
  return async (c, next) => {
    const { requests, resetS } = await countRequest(c.var.sql, clientOf(c, trustProxy), windowS);
    if (Date.now() - lastPurge > windowS * 1000) {
      lastPurge = Date.now();
      await purgeOldWindows(c.var.sql, windowS);
    }
    const headers = {
      'ratelimit-limit': String(max),
      'ratelimit-remaining': String(Math.max(0, max - requests)),
      'ratelimit-reset': String(resetS),
    };
    if (requests > max) {
      throw new ApiError('rate_limited', `more than ${max} requests in ${windowS} s; retry in ${resetS} s`, undefined, {
        ...headers,
        'retry-after': String(resetS),
      });
    }
    await next();
    for (const [k, v] of Object.entries(headers)) c.header(k, v);
  };
}
