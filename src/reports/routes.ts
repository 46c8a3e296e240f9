import { createRoute } from '@hono/zod-openapi';
import { errorResponses } from '../errors.ts';
import { KEY_FOR_READS, PIPELINED, READ_FROM } from '../http/route-policy.ts';
import { InventoryReportQuery, InventoryReportSchema } from './schemas.ts';

export const inventoryReportRoute = createRoute({
  method: 'get',
  path: '/reports/inventory',
  operationId: 'getInventoryReport',
  summary: 'Inventory report',
  description:
    'Products, units and stock value per category and in total, computed exactly in SQL; optionally the products low on stock.',
  tags: ['Reports'],
  security: KEY_FOR_READS,
  [READ_FROM]: 'standby',
  // Its queries read one snapshot, in one transaction: a connection of its own.
  [PIPELINED]: false,
  request: { query: InventoryReportQuery },
  responses: {
    200: { description: 'The report', content: { 'application/json': { schema: InventoryReportSchema } } },
    ...errorResponses(['validation_failed']),
  },
});
