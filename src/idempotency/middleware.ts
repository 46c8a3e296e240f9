import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { createHash } from 'node:crypto';
import type { Pool } from '../db.ts';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { claimKey, findKey, purgeExpiredKeys, releaseKey, storeResponse, type Scope, type StoredResponse } from './queries.ts';

const KEY = /^[\x20-\x7e]{1,255}$/;
const MAX_SCOPED_PATH = 256;
const REPLAYED_HEADERS = ['content-type', 'location', 'etag', 'link'];
const ROLLBACK = Symbol('rollback');

async function snapshot(res: Response): Promise<StoredResponse> {
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = res.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  return { status: res.status, headers, body: await res.clone().text() };
}

function replay(stored: StoredResponse): Response {
  return new Response(stored.body, {
    status: stored.status,
    headers: { ...stored.headers, 'idempotent-replayed': 'true' },
  });
}

/**
 * Idempotency-Key on POST. The first request with a key claims it (committed
 * at once, so concurrent repeats see it running), then runs in a transaction
 * that also stores its response: the effect and the stored answer commit
 * together or not at all. Repeats with the same body get the stored answer;
 * a different body is refused. Keys are scoped to method and path and expire
 * after 24 hours.
 */
export const idempotency: MiddlewareHandler<AppEnv> = async (c, next) => {
  const key = c.req.method === 'POST' ? c.req.header('idempotency-key') : undefined;
  if (key === undefined) return next();
  // Only requests that reach an operation hold a key: an unknown route (or a
  // path no operation could take, such as a 5 KB id) is answered without one.
  const routed = matchedRoutes(c).some((r) => r.method !== 'ALL');
  if (!routed || c.req.path.length > MAX_SCOPED_PATH) return next();
  if (!KEY.test(key)) {
    throw new ApiError('validation_failed', 'the Idempotency-Key header is not valid', [
      { path: 'idempotency-key', message: '1 to 255 printable ASCII characters' },
    ]);
  }
  const pool = c.var.sql as Pool;
  const scope: Scope = { method: c.req.method, path: c.req.path.replace(/(.)\/$/, '$1'), key };
  const hash = createHash('sha256').update(await c.req.text()).digest('base64url');

  await purgeExpiredKeys(pool);
  if (!(await claimKey(pool, scope, hash))) {
    const record = await findKey(pool, scope);
    if (record && record.request_hash !== hash) {
      throw new ApiError('idempotency_key_reused', 'this Idempotency-Key was used with a different request body');
    }
    if (!record || record.status === null) {
      throw new ApiError('request_in_progress', 'a request with this Idempotency-Key is still running; retry later');
    }
    return replay({ status: record.status, headers: record.response_headers ?? {}, body: record.response_body ?? '' });
  }

  try {
    await pool.begin(async (tx) => {
      c.set('sql', tx);
      await next();
      if (c.res.status >= 400) throw ROLLBACK; // nothing of a refused request is kept
      await storeResponse(tx, scope, await snapshot(c.res));
    });
  } catch (error) {
    if (error !== ROLLBACK) {
      await releaseKey(pool, scope).catch(() => {});
      throw error;
    }
  } finally {
    c.set('sql', pool);
  }
  if (c.res.status >= 500) {
    await releaseKey(pool, scope).catch(() => {});
  } else if (c.res.status >= 400) {
    await storeResponse(pool, scope, await snapshot(c.res));
  }
};
