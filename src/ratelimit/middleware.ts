import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from 'hono/bun';
import { createHash } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { KeyMatcher } from '../http/auth.ts';
import type { AppEnv } from '../http/context.ts';
import { countRequest, purgeOldWindows } from './queries.ts';

/**
 * Who a request counts against: the configured API key it proves it holds (by
 * its fingerprint, which a change of the key list leaves as it is);
 * otherwise its address — behind a trusted proxy the last X-Forwarded-For
 * entry (the one the proxy appended), never what the client wrote itself.
 * A made-up token identifies nobody, so it cannot buy a fresh count.
 */
export function clientOf(c: Context<AppEnv>, trustProxy: boolean, matchKey: KeyMatcher): string {
  const key = matchKey(c.req.header('authorization'));
  if (key !== undefined) return `key:${key}`;
  let address: string | undefined;
  if (trustProxy) address = c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim();
  if (!address) {
    try {
      address = getConnInfo(c).remote.address;
    } catch {
      // requests made in-process (app.request) have no socket
    }
  }
  address ||= 'unknown';
  // An address is short; anything longer is hashed so that it fits the index.
  return address.length <= 64 ? `ip:${address}` : `ip#${createHash('sha256').update(address).digest('hex')}`;
}

/**
 * Fixed-window rate limit per client, counted in PostgreSQL so that every API
 * process shares it. Answers 429 with Retry-After when a client is over.
 */
export function rateLimit(
  max: number,
  windowS: number,
  trustProxy: boolean,
  matchKey: KeyMatcher,
): MiddlewareHandler<AppEnv> {
  let lastPurge = 0;
  return async (c, next) => {
    const { requests, resetS } = await countRequest(c.var.sql, clientOf(c, trustProxy, matchKey), windowS);
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
