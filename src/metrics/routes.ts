import { createRoute, z } from '@hono/zod-openapi';
import { OPEN, POOLED } from '../http/route-policy.ts';

export const metricsRoute = createRoute({
  method: 'get',
  path: '/metrics',
  operationId: 'getMetrics',
  summary: 'Prometheus metrics',
  description: 'Requests and latency by route and status, pool use, database errors by class, build info.',
  tags: ['Health'],
  security: OPEN,
  [POOLED]: false,
  responses: {
    200: {
      description: 'Metrics in the Prometheus text format',
      content: {
        'text/plain': {
          schema: z.string().openapi({ example: 'http_requests_total{method="GET",route="/products",status="200"} 12' }),
        },
      },
    },
  },
});
