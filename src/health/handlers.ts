import type { RouteHandler } from '@hono/zod-openapi';
import type { AppEnv } from '../http/context.ts';
import { databaseWritable } from './queries.ts';
import type { livenessRoute, readinessRoute } from './routes.ts';

export const liveness: RouteHandler<typeof livenessRoute, AppEnv> = (c) => c.json({ status: 'ok' as const }, 200);

export const readiness: RouteHandler<typeof readinessRoute, AppEnv> = async (c) => {
  const ok = await databaseWritable(c.var.sql, 2000);
  return ok ? c.json({ status: 'ok' as const }, 200) : c.json({ status: 'unavailable' as const }, 503);
};
