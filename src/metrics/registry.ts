import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppEnv } from '../http/context.ts';
import pkg from '../../package.json' with { type: 'json' };

export type PoolStats = () => { inUse: number; waiting: number; size: number };

export type Metrics = {
  registry: Registry;
  middleware: MiddlewareHandler<AppEnv>;
  /** Counts a database error by SQLSTATE class (`23`, `57`, ...) or `connection` for client-side failures. */
  databaseError: (code: string) => void;
};

/** The service's Prometheus metrics; one registry per app. */
export function createMetrics(pool: PoolStats): Metrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route, method and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const dbErrors = new Counter({
    name: 'db_errors_total',
    help: 'Database errors by SQLSTATE class, or "connection" when the server could not be reached',
    labelNames: ['class'] as const,
    registers: [registry],
  });
  for (const [name, help, key] of [
    ['db_pool_size', 'Connections the pool may open', 'size'],
    ['db_pool_in_use', 'Requests holding a database connection', 'inUse'],
    ['db_pool_waiting', 'Requests waiting for a database connection', 'waiting'],
  ] as const) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(pool()[key]);
      },
    });
  }
  new Gauge({
    name: 'build_info',
    help: 'Version of the service and of its runtime',
    labelNames: ['version', 'bun'] as const,
    registers: [registry],
  }).set({ version: pkg.version, bun: Bun.version }, 1);

  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    const started = performance.now();
    await next();
    const route = routePath(c, -1);
    const labels = {
      method: c.req.method,
      route: route === '*' || route === '/*' ? 'unmatched' : route,
      status: String(c.res.status),
    };
    requests.inc(labels);
    duration.observe(labels, (performance.now() - started) / 1000);
  };

  return {
    registry,
    middleware,
    databaseError: (code) => dbErrors.inc({ class: /^[0-9A-Z]{5}$/.test(code) ? code.slice(0, 2) : 'connection' }),
  };
}
