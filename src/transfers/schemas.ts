import { z } from '@hono/zod-openapi';
import { ID_PATTERN, parseId } from '../http/params.ts';
import { textUpTo } from '../http/text.ts';
import { QUANTITY_MAX, QUANTITY_MESSAGES } from '../products/model.ts';
import { StockMovementSchema } from '../stock/schemas.ts';

const ID_MESSAGE = `must be a positive whole number written in digits, without leading zeros, at most ${Number.MAX_SAFE_INTEGER}`;

/** A row id in a JSON body. */
export const idField = (description: string, example: number) =>
  z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).openapi({ description, example });

/** A row id as a query-string filter: one spelling per id, as in paths (src/http/params.ts). */
export const idFilter = (description: string, example: number) =>
  z
    .string()
    .refine((text) => parseId(text) !== undefined, ID_MESSAGE)
    .transform(Number)
    .optional()
    .openapi({
      type: 'integer',
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      pattern: ID_PATTERN.source,
      // No example: the explorer would fill an optional filter in.
      description: `${description} (e.g. ${example})`,
    });

/** A count of units moved or held: 1 or more. */
export const unitsField = (description: string, example: number) =>
  z
    .number()
    .int(QUANTITY_MESSAGES.whole)
    .min(1, 'must be at least 1')
    .max(QUANTITY_MAX, QUANTITY_MESSAGES.max)
    .openapi({ description, example });

export const TransferSchema = z
  .object({
    id: z.number().int().openapi({ example: 31 }),
    product_id: z.number().int().openapi({ example: 42 }),
    from_location_id: z.number().int().openapi({ example: 1 }),
    to_location_id: z.number().int().openapi({ example: 2 }),
    quantity: z.number().int().openapi({ example: 5 }),
    note: z.string().nullable().openapi({ example: 'restock the shop floor' }),
    created_at: z.string().openapi({ format: 'date-time', example: '2026-11-30T09:00:00.123456Z' }),
  })
  .openapi('Transfer');

export const TransferCreateSchema = z
  .strictObject({
    product: idField('Product id', 42),
    from: idField('Location id the units leave', 1),
    to: idField('Location id the units arrive at; not `from`', 2),
    quantity: unitsField('Units moved', 5),
    note: textUpTo(500).nullable().optional().openapi({ example: 'restock the shop floor' }),
  })
  .refine((t) => t.from !== t.to, { path: ['to'], message: 'must not be the same location as from' })
  .openapi('TransferCreate');

/** A movement a transfer wrote: a StockMovement with one of the two transfer reasons and its transfer. */
export const TransferMovementSchema = z
  .object({
    ...StockMovementSchema.shape,
    reason: z.enum(['transfer_out', 'transfer_in']).openapi({ example: 'transfer_out' }),
    transfer_id: z.number().int().openapi({ example: 31 }),
  })
  .openapi('TransferMovement');

export const TransferResultSchema = z
  .object({
    transfer: TransferSchema,
    movements: z.array(TransferMovementSchema).openapi({
      description: 'The two movements it wrote: `transfer_out` at `from`, then `transfer_in` at `to`',
    }),
  })
  .openapi('TransferResult');

export const TransferListQuery = z.object({
  product: idFilter('Only transfers of this product', 42),
  location: idFilter('Only transfers from or to this location', 2),
  limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ description: 'Page size' }),
  cursor: z.string().max(200).optional().openapi({ description: 'Opaque cursor from the previous page\'s Link rel="next"' }),
});
