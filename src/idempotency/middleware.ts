import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { createHash } from 'node:crypto';
import type { Pool } from '../db.ts';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { idError, parseId } from '../http/params.ts';
import { findKey, purgeExpiredKeys, storeResponse, tryLockKey, type Scope, type StoredResponse } from './queries.ts';

const KEY = /^[\x20-\x7e]{1,255}$/;
const REPLAYED_HEADERS = ['content-type', 'location', 'etag', 'link'];
/** Thrown to roll back: the request's own writes (refused request), or everything (server error). */
const UNDO_REQUEST = Symbol('undo request');
const UNDO_ALL = Symbol('undo all');

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

/** A 64-bit advisory lock id for a key's scope. */
function lockIdOf(s: Scope): bigint {
  return createHash('sha256').update(`${s.client}\0${s.method}\0${s.path}\0${s.key}`).digest().readBigInt64BE(0);
}

/**
 * The operation a request is for, as its keys are scoped: the route it
 * matched with each path parameter (an id) in its one spelling, such as
 * `/products/45/stock-adjustments` for `/products/45/stock-adjustments/`; the
 * same text as the request path whenever that path is already canonical.
 * Undefined when no operation takes the request. A parameter that is not an
 * id is refused (422), as the operation itself would refuse it: a keyed
 * request is either protected or refused, never run unprotected.
 */
function operationOf(c: Context<AppEnv>): string | undefined {
  const routes = matchedRoutes(c);
  const index = routes.findIndex((r) => r.method !== 'ALL');
  if (index === -1) return undefined;
  // The parameters as the router gives them to that route's validator.
  const current = c.req.routeIndex;
  c.req.routeIndex = index;
  const params: Record<string, string> = c.req.param();
  c.req.routeIndex = current;
  const pattern = routes[index]!.path;
  return pattern.replace(/:(\w+)/g, (_, name: string) => {
    const id = parseId(params[name] ?? '');
    if (id === undefined) {
      throw new ApiError('validation_failed', 'the request param has 1 invalid field', [idError(name)]);
    }
    return String(id);
  });
}

/**
 * Idempotency-Key on POST. The request runs in one transaction that holds the
 * key's advisory lock and stores the answer: its effect and its stored answer
 * commit together or not at all, and a repeat arriving meanwhile finds the
 * lock taken (409 request_in_progress). A repeat with the same body later gets
 * the stored answer; a different body is refused. A refused request (4xx) is
 * stored with its writes undone; a server error stores nothing, so a retry runs
 * again. Keys are scoped to the client (the API key the request proved, when
 * the service has keys), method and operation (route and canonical ids, see
 * `operationOf`), and expire after 24 hours.
 */
export const idempotency: MiddlewareHandler<AppEnv> = async (c, next) => {
  const key = c.req.method === 'POST' ? c.req.header('idempotency-key') : undefined;
  if (key === undefined) return next();
  // Only requests that reach an operation hold a key: an unknown route is answered without one.
  const path = operationOf(c);
  if (path === undefined) return next();
  if (!KEY.test(key)) {
    throw new ApiError('validation_failed', 'the Idempotency-Key header is not valid', [
      { path: 'idempotency-key', message: '1 to 255 printable ASCII characters' },
    ]);
  }
  const pool = c.var.sql as Pool;
  const scope: Scope = { client: c.var.client ?? '', method: c.req.method, path, key };
  const hash = createHash('sha256')
    .update(await c.req.text())
    .digest('base64url');
  await purgeExpiredKeys(pool);

  let replayed: Response | undefined;
  try {
    await pool.begin(async (tx) => {
      if (!(await tryLockKey(tx, lockIdOf(scope)))) {
        throw new ApiError('request_in_progress', 'a request with this Idempotency-Key is still running; retry later');
      }
      const record = await findKey(tx, scope);
      if (record) {
        if (record.request_hash !== hash) {
          throw new ApiError('idempotency_key_reused', 'this Idempotency-Key was used with a different request body');
        }
        replayed = replay({ status: record.status, headers: record.response_headers ?? {}, body: record.response_body ?? '' });
        return;
      }
      try {
        await tx.savepoint(async (sp) => {
          c.set('sql', sp);
          await next();
          if (c.res.status >= 400) throw UNDO_REQUEST; // nothing of a refused request is kept
        });
      } catch (error) {
        if (error !== UNDO_REQUEST) throw error;
      } finally {
        c.set('sql', pool);
      }
      if (c.res.status >= 500) throw UNDO_ALL;
      await storeResponse(tx, scope, hash, await snapshot(c.res));
    });
  } catch (error) {
    if (error !== UNDO_ALL) throw error;
  }
  if (replayed) return replayed;
};
