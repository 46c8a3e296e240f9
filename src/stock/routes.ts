import { createRoute, z } from '@hono/zod-openapi';
import { bodyErrors, errorResponses } from '../errors.ts';
import { IdempotencyKeyHeader, IdParam } from '../http/params.ts';
import { KEY, KEY_FOR_READS } from '../http/route-policy.ts';
import { MovementListQuery, StockAdjustmentResultSchema, StockAdjustmentSchema, StockMovementSchema } from './schemas.ts';

const tags = ['Stock'];

export const adjustStockRoute = createRoute({
  method: 'post',
  path: '/products/{id}/stock-adjustments',
  operationId: 'adjustStock',
  summary: 'Adjust stock',
  description:
    'Adds or removes units at a location (the default location when `location` is absent) and records the ' +
    'movement, atomically. A decrease may take only available stock (on hand less open reservations); more is ' +
    'refused (409 `insufficient_stock`) and writes nothing. With `expected_on_hand`, the change is made only when ' +
    'the level holds exactly that (else 409 `quantity_changed`). Send an `Idempotency-Key` to retry safely.',
  tags,
  security: KEY,
  request: {
    params: IdParam,
    headers: IdempotencyKeyHeader,
    body: { required: true, content: { 'application/json': { schema: StockAdjustmentSchema } } },
  },
  responses: {
    201: {
      description: 'The movement recorded and the product after it',
      headers: z.object({ ETag: z.string().openapi({ description: 'The product version', example: '"4"' }) }),
      content: { 'application/json': { schema: StockAdjustmentResultSchema } },
    },
    ...errorResponses([
      ...bodyErrors,
      'not_found',
      'insufficient_stock',
      'quantity_changed',
      'request_in_progress',
      'idempotency_key_reused',
    ]),
  },
});

export const listMovementsRoute = createRoute({
  method: 'get',
  path: '/products/{id}/stock-movements',
  operationId: 'listStockMovements',
  summary: 'List stock movements',
  description:
    'The product\'s stock history, newest first, archived products included. More pages follow through the `Link` header (`rel="next"`).',
  tags,
  security: KEY_FOR_READS,
  request: { params: IdParam, query: MovementListQuery },
  responses: {
    200: {
      description: 'One page of movements',
      headers: z.object({
        Link: z
          .string()
          .optional()
          .openapi({ example: '</products/42/stock-movements?cursor=WyJtb3ZlbWVudHMiLDEyMDBd>; rel="next"' }),
      }),
      content: { 'application/json': { schema: z.array(StockMovementSchema) } },
    },
    ...errorResponses(['not_found', 'validation_failed']),
  },
});
