import { createRoute, z } from '@hono/zod-openapi';
import { bodyErrors, errorResponses } from '../errors.ts';
import { IdempotencyKeyHeader } from '../http/params.ts';
import { KEY, KEY_FOR_READS, READ_FROM } from '../http/route-policy.ts';
import { TransferCreateSchema, TransferListQuery, TransferResultSchema, TransferSchema } from './schemas.ts';

const tags = ['Transfers'];

export const createTransferRoute = createRoute({
  method: 'post',
  path: '/transfers',
  operationId: 'createTransfer',
  summary: 'Move stock between locations',
  description:
    'Moves `quantity` units of a product from one location to another: the transfer, a `transfer_out` movement at ' +
    '`from` and a `transfer_in` movement at `to` are written together, or nothing is. Only available stock at ' +
    '`from` (on hand less open reservations) can leave; more is refused with 409 `insufficient_stock`. `from` and ' +
    '`to` must differ (422). An unknown or archived product or location is 404. Send an `Idempotency-Key` to retry ' +
    'safely.',
  tags,
  security: KEY,
  request: {
    headers: IdempotencyKeyHeader,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: TransferCreateSchema,
          examples: {
            transfer: {
              summary: 'Five units from the default location to location 2',
              value: { product: 42, from: 1, to: 2, quantity: 5, note: 'restock the shop floor' },
            },
          },
        },
      },
    },
  },
  responses: {
    201: {
      description: 'The transfer and its two movements',
      content: { 'application/json': { schema: TransferResultSchema } },
    },
    ...errorResponses([...bodyErrors, 'not_found', 'insufficient_stock', 'request_in_progress', 'idempotency_key_reused']),
  },
});

export const listTransfersRoute = createRoute({
  method: 'get',
  path: '/transfers',
  operationId: 'listTransfers',
  summary: 'List transfers',
  description:
    'Transfers, newest first, optionally of one product (`product`) and/or from or to one location (`location`). ' +
    'More pages follow through the `Link` header (`rel="next"`).',
  tags,
  security: KEY_FOR_READS,
  [READ_FROM]: 'standby',
  request: { query: TransferListQuery },
  responses: {
    200: {
      description: 'One page of transfers',
      headers: z.object({
        Link: z.string().optional().openapi({ example: '</transfers?product=42&cursor=WyJ0cmFuc2ZlcnMiLDMxXQ>; rel="next"' }),
      }),
      content: { 'application/json': { schema: z.array(TransferSchema) } },
    },
    ...errorResponses(['validation_failed']),
  },
});
