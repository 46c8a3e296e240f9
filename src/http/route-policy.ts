/**
 * What each route declares about the layers before its handler, in its
 * `createRoute` declaration, so that the OpenAPI document and the middleware
 * read the same words:
 *
 * - `security`: `[]` never needs a key (the probes, the document, the explorer);
 *   `[{ apiKey: [] }, {}]` (a key is optional) needs one only when the service
 *   runs with API_KEYS and API_READS_REQUIRE_KEY=true (the reads);
 *   `[{ apiKey: [] }]` needs one whenever the service runs with API_KEYS (the writes).
 * - `x-pooled: false`: the route takes no connection slot and is not rate
 *   limited (it answers without the database, or only pings it with its own
 *   timeout). The key is read when the document is built and removed from it.
 * - `x-read-from: 'standby'`: the route only reads, so with DATABASE_READ_URL its
 *   handler's `sql` may be a standby's pool (src/db-read.ts); it then takes a
 *   Consistency-Token request header. Every other route uses the primary. The
 *   key is read when the document is built and removed from it.
 * - `x-pipelined: false`: a GET whose reads run in one transaction, which needs a
 *   connection of its own. Every other GET runs single statements, which the pool
 *   gate lets share a busy connection (src/http/pool-gate.ts); every other method
 *   takes a connection of its own. Removed from the document too.
 */

export type Security = Record<string, string[]>[];

/** No key, ever. */
export const OPEN: Security = [];
/** A key when the service runs with API_KEYS and API_READS_REQUIRE_KEY=true. */
export const KEY_FOR_READS: Security = [{ apiKey: [] }, {}];
/** A key whenever the service runs with API_KEYS. */
export const KEY: Security = [{ apiKey: [] }];

/** The extension a route declares `false` in when it runs outside the pool gate and the rate limit. */
export const POOLED = 'x-pooled' as const;

/** The extension a read-only route declares `'standby'` in when a standby may serve it. */
export const READ_FROM = 'x-read-from' as const;

/** The extension a GET declares `false` in when its reads run in one transaction (a connection of its own). */
export const PIPELINED = 'x-pipelined' as const;

/** Who must send a key: nobody, only with API_READS_REQUIRE_KEY, or every client (when keys are configured). */
export type KeyRule = 'never' | 'reads' | 'always';

export type RoutePolicy = {
  key: KeyRule;
  pooled: boolean;
  standby?: boolean;
  /** A GET of single statements: its request may share a busy connection (src/http/pool-gate.ts). */
  pipelined?: boolean;
};

/** The policy a route's declaration (an operation of the document, or a createRoute config) states. */
export function policyOf(
  where: string,
  route: { security?: Security; [POOLED]?: unknown; [READ_FROM]?: unknown; [PIPELINED]?: unknown; method?: unknown },
): RoutePolicy {
  const { security } = route;
  if (!security) throw new Error(`${where} declares no security: say who needs a key (src/http/route-policy.ts)`);
  const key: KeyRule =
    security.length === 0 ? 'never' : security.some((requirement) => Object.keys(requirement).length === 0) ? 'reads' : 'always';
  const standby = route[READ_FROM] === 'standby';
  const get = String(route.method ?? 'get').toLowerCase() === 'get';
  if (standby && !get) {
    throw new Error(`${where} declares ${READ_FROM}: standby but is not a GET: only reads may go to a standby`);
  }
  return { key, pooled: route[POOLED] !== false, standby, pipelined: get && route[PIPELINED] !== false };
}

/** Whether a request to a route with this rule needs a key, given the service's configuration. */
export const keyNeeded = (key: KeyRule, readsRequireKey: boolean) => key === 'always' || (key === 'reads' && readsRequireKey);
