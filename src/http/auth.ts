import type { MiddlewareHandler } from 'hono';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { AppEnv } from './context.ts';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * API keys: when any are configured, writes need `Authorization: Bearer <key>`
 * (reads too with `readsRequireKey`). Keys are compared as SHA-256 digests in
 * constant time, so neither their content nor their length leaks through timing.
 */
export function requireApiKey(keys: string[], readsRequireKey: boolean): MiddlewareHandler<AppEnv> {
  const digests = keys.map(digest);
  return async (c, next) => {
    const path = c.req.path;
    const open = PUBLIC_PATHS.has(path) || path === '/docs' || path.startsWith('/docs/');
    if (open || (READS.has(c.req.method) && !readsRequireKey)) return next();
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const given = match ? digest(match[1]!) : undefined;
    let ok = false;
    for (const d of digests) ok = (given !== undefined && timingSafeEqual(d, given)) || ok;
    if (!ok) {
      throw new ApiError('unauthorized', 'send a valid API key as `Authorization: Bearer <key>`', undefined, {
        'www-authenticate': 'Bearer realm="inventory"',
      });
    }
    return next();
  };
}
