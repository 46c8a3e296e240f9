import type { MiddlewareHandler } from 'hono';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { AppEnv } from './context.ts';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Which configured key an `Authorization: Bearer <key>` header carries: its
 * index, or -1. Keys are compared as SHA-256 digests in constant time, every
 * key every time, so neither their content nor their length leaks through timing.
 */
export function createKeyMatcher(keys: string[]): (authorization: string | undefined) => number {
  const digests = keys.map(digest);
  return (authorization) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) return -1;
    const given = digest(match[1]!);
    let found = -1;
    digests.forEach((d, i) => {
      if (timingSafeEqual(d, given) && found === -1) found = i;
    });
    return found;
  };
}

/**
 * What identifies the holder of a key where it is stored (idempotency keys):
 * a domain-separated SHA-256 of the key, shortened. It does not change when
 * keys are added, removed or reordered, and it is not the key.
 */
export function keyFingerprint(key: string): string {
  return createHash('sha256').update(`inventory client\0${key}`).digest('base64url').slice(0, 22);
}

/**
 * API keys: when any are configured, writes need a valid bearer key (reads
 * too with `readsRequireKey`); probes, the document and the explorer stay open.
 * A request with a valid key is known by the key's fingerprint (`client`).
 */
export function requireApiKey(
  keys: string[],
  matchKey: (authorization: string | undefined) => number,
  readsRequireKey: boolean,
): MiddlewareHandler<AppEnv> {
  const fingerprints = keys.map(keyFingerprint);
  return async (c, next) => {
    const path = c.req.path;
    const open = PUBLIC_PATHS.has(path) || path === '/docs' || path.startsWith('/docs/');
    if (open || (READS.has(c.req.method) && !readsRequireKey)) return next();
    const index = matchKey(c.req.header('authorization'));
    if (index === -1) {
      throw new ApiError('unauthorized', 'send a valid API key as `Authorization: Bearer <key>`', undefined, {
        'www-authenticate': 'Bearer realm="inventory"',
      });
    }
    c.set('client', fingerprints[index]);
    return next();
  };
}
