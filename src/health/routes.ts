import { createRoute, z } from '@hono/zod-openapi';
import { OPEN, POOLED } from '../http/route-policy.ts';

const tags = ['Health'];

export const HealthSchema = z.object({ status: z.enum(['ok', 'unavailable']).openapi({ example: 'ok' }) }).openapi('Health');

export const livenessRoute = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'getLiveness',
  summary: 'Liveness',
  description: 'Answers 200 while the process runs; it does not touch the database.',
  tags,
  security: OPEN,
  [POOLED]: false,
  responses: {
    200: { description: 'The process is alive', content: { 'application/json': { schema: HealthSchema } } },
  },
});

export const readinessRoute = createRoute({
  method: 'get',
  path: '/readyz',
  operationId: 'getReadiness',
  summary: 'Readiness',
  description:
    'Answers 200 when the database answers and takes writes (a primary), 503 when it does not answer or is a ' +
    'read-only standby (during a failover, until a standby is promoted).',
  tags,
  security: OPEN,
  [POOLED]: false,
  responses: {
    200: { description: 'Ready to serve', content: { 'application/json': { schema: HealthSchema } } },
    503: {
      description: 'The database does not answer, or only a read-only standby does',
      content: { 'application/json': { schema: HealthSchema } },
    },
  },
});
