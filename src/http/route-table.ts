import type { Context } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { RouterRoute } from 'hono/types';
import { READS } from './auth.ts';
import type { AppEnv } from './context.ts';
import { keyNeeded, policyOf, type RoutePolicy } from './route-policy.ts';

/** What the layers before a handler do for one request. */
export type RequestPolicy = {
  /** Refused 401 without a valid key (when the service runs with API_KEYS). */
  needsKey: boolean;
  /** Counted by the rate limit and takes a connection slot from the pool gate. */
  pooled: boolean;
  /** A read a standby may serve (with DATABASE_READ_URL): its route declares `x-read-from: 'standby'`. */
  standby?: boolean;
  /** A read of single statements, which may share a busy connection (src/http/pool-gate.ts). */
  pipelined?: boolean;
  /** For a request no operation takes: the methods its path takes (405), or undefined (404). */
  allow?: string[];
};

type Declarations = {
  /** The app's OpenAPI registry: each documented route's declaration. */
  definitions: readonly { type: string; route?: Record<string, any> }[];
  /** Routes outside the document, by `METHOD /router/path`. */
  undocumented: Record<string, RoutePolicy>;
  /** Path prefixes whose every request no operation takes is open (the explorer's assets). */
  openAreas: string[];
};

const ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
const byOrder = (a: string, b: string) => ORDER.indexOf(a) - ORDER.indexOf(b);

/** `/products/{id}` as the router spells it: `/products/:id`. */
const routerPath = (path: string) => path.replace(/\{([^}]+)\}/g, ':$1');

/** `/products/:id` as a regular expression for request paths, a trailing slash allowed (strict: false). */
function routePattern(path: string): RegExp {
  const source = path
    .split('/')
    .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`);
}

/**
 * Decides, once per route when the app is built, what the layers before its
 * handler do, from the route's own declaration (src/http/route-policy.ts), and
 * answers for each request by the route the router matched. A request no
 * operation takes (404, 405) is open when its path is that of open routes only,
 * or lies in an open area (the explorer's); otherwise it needs a key unless it
 * reads (a key for reads too with API_READS_REQUIRE_KEY) and is pooled, as an
 * operation would be.
 */
export function createRouteTable(routes: readonly RouterRoute[], declarations: Declarations, readsRequireKey: boolean) {
  const declared = new Map<string, RoutePolicy>(Object.entries(declarations.undocumented));
  for (const { type, route } of declarations.definitions) {
    if (type !== 'route' || !route) continue;
    const method = String(route.method).toUpperCase();
    declared.set(`${method} ${routerPath(route.path)}`, policyOf(`${method} ${route.path}`, route));
  }

  const open: RequestPolicy = { needsKey: false, pooled: false };
  const toRequest = new Map<string, RequestPolicy>();
  const requestPolicy = ({ key, pooled, standby = false, pipelined = false }: RoutePolicy): RequestPolicy => {
    const needsKey = keyNeeded(key, readsRequireKey);
    const name = `${needsKey} ${pooled} ${standby} ${pipelined}`;
    let found = toRequest.get(name);
    if (!found) {
      toRequest.set(name, (found = { needsKey, pooled, ...(standby ? { standby } : {}), ...(pipelined ? { pipelined } : {}) }));
    }
    return found;
  };

  const byRoute = new Map<RouterRoute, RequestPolicy>();
  const byPath = new Map<string, { methods: Set<string>; open: boolean }>();
  for (const route of routes) {
    if (route.method === 'ALL' || route.path.includes('*')) continue;
    const policy = declared.get(`${route.method} ${route.path}`);
    if (!policy) throw new Error(`${route.method} ${route.path} declares no security (src/http/route-policy.ts)`);
    byRoute.set(route, requestPolicy(policy));
    const row = byPath.get(route.path) ?? { methods: new Set<string>(), open: true };
    row.methods.add(route.method);
    if (route.method === 'GET') row.methods.add('HEAD');
    row.open &&= policy.key === 'never' && !policy.pooled;
    byPath.set(route.path, row);
  }
  const table = [...byPath].map(([path, row]) => ({ pattern: routePattern(path), methods: [...row.methods], open: row.open }));
  const read = { needsKey: readsRequireKey, pooled: true };
  const write = { needsKey: true, pooled: true };

  /** The policy of a request no operation takes, with the methods its path takes. */
  function unrouted(method: string, path: string): RequestPolicy {
    const rows = table.filter((row) => row.pattern.test(path));
    const allow = rows.length ? [...new Set(rows.flatMap((row) => row.methods))].sort(byOrder) : undefined;
    const inOpenArea = rows.length
      ? rows.every((row) => row.open)
      : declarations.openAreas.some((area) => path === area || path.startsWith(`${area}/`));
    return { ...(inOpenArea ? open : READS.has(method) ? read : write), allow };
  }

  /** The request's policy: its route's, decided when the app was built; worked out once per request otherwise. */
  return (c: Context<AppEnv>): RequestPolicy => {
    let policy = c.get('policy');
    if (policy) return policy;
    policy = byRoute.get(matchedRoutes(c).at(-1)!) ?? unrouted(c.req.method, c.req.path);
    c.set('policy', policy);
    return policy;
  };
}
