import type { MiddlewareHandler } from 'hono';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { AppEnv } from './context.ts';

/** Methods that only read. */
export const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * What identifies the holder of a key wherever it is kept (idempotency keys,
 * rate-limit counts): a domain-separated SHA-256 of the key, shortened. It does
 * not change when keys are added, removed or reordered, and it is not the key.
 */
export function keyFingerprint(key: string): string {
  return createHash('sha256').update(`inventory client\0${key}`).digest('base64url').slice(0, 22);
}

/** Tells which configured key, if any, an `Authorization` header proves: its fingerprint. */
export type KeyMatcher = (authorization: string | undefined) => string | undefined;

/**
 * Matches `Authorization: Bearer <key>` against the configured keys. Keys are
 * compared as SHA-256 digests in constant time, every key every time, so
 * neither their content nor their length leaks through timing.
 */
export function createKeyMatcher(keys: string[]): KeyMatcher {
  const digests = keys.map(digest);
  const fingerprints = keys.map(keyFingerprint);
  return (authorization) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) return undefined;
    const given = digest(match[1]!);
    let found = -1;
    digests.forEach((d, i) => {
      if (timingSafeEqual(d, given) && found === -1) found = i;
    });
    return found === -1 ? undefined : fingerprints[found];
  };
}

/**
 * API keys: refuses a request without a valid bearer key (401). Which requests
 * need one, each route declares (src/http/route-policy.ts); the app runs this
 * only for those. A request with a valid key is known by the key's fingerprint (`client`).
 */
export function requireApiKey(matchKey: KeyMatcher): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const client = matchKey(c.req.header('authorization'));
    if (client === undefined) {
      throw new ApiError('unauthorized', 'send a valid API key as `Authorization: Bearer <key>`', undefined, {
        'www-authenticate': 'Bearer realm="inventory"',
      });
    }
    c.set('client', client);
    return next();
  };
}
