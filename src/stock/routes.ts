import { createRoute, z } from '@hono/zod-openapi';
import { bodyErrors, errorResponses } from '../errors.ts';
import { IdempotencyKeyHeader, IdParam } from '../http/params.ts';
import { KEY, KEY_FOR_READS, READ_FROM } from '../http/route-policy.ts';
import {
  BATCH_MAX,
  MovementListQuery,
  StockAdjustmentResultSchema,
  StockAdjustmentSchema,
  StockBatchResultSchema,
  StockBatchSchema,
  StockMovementSchema,
} from './schemas.ts';

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

export const adjustStockBatchRoute = createRoute({
  method: 'post',
  path: '/stock-adjustments',
  operationId: 'adjustStockBatch',
  summary: 'Adjust stock in a batch',
  description:
    `Applies 1 to ${BATCH_MAX} adjustments (a point-of-sale or warehouse sync) all or nothing, in one transaction: ` +
    'each item as `POST /products/{id}/stock-adjustments` would apply it, at its `location` (the default location ' +
    'when absent), with its own `expected_on_hand` and `reference`. Items on the same product and location apply in ' +
    'the order of their index, each seeing the ones before it. When any item is refused nothing is written, and the ' +
    "problem's `errors` names every refused item by its index (`adjustments[3]`), its message starting with its " +
    'code; the status is that of the gravest refusal: 422 `validation_failed`, then 404 `not_found` (no such product ' +
    'or location), then 409 `quantity_changed`, then 409 `insufficient_stock`. The body must stay within 64 KiB ' +
    '(about 60 bytes an item for a full batch). Send an `Idempotency-Key` to retry safely.',
  tags,
  security: KEY,
  request: {
    headers: IdempotencyKeyHeader,
    body: { required: true, content: { 'application/json': { schema: StockBatchSchema } } },
  },
  responses: {
    201: {
      description: 'The movements recorded and the products after them',
      content: { 'application/json': { schema: StockBatchResultSchema } },
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
  [READ_FROM]: 'standby',
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
