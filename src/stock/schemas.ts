import { z } from '@hono/zod-openapi';
import { text } from '../http/text.ts';
import { QUANTITY_MAX, QUANTITY_MESSAGES } from '../products/model.ts';
import { ProductSchema } from '../products/schemas.ts';
import { ADJUSTMENT_REASONS, REASONS } from './model.ts';

export const StockMovementSchema = z
  .object({
    id: z.number().int().openapi({ example: 1201 }),
    product_id: z.number().int().openapi({ example: 42 }),
    location_id: z.number().int().openapi({ example: 1 }),
    delta: z.number().int().openapi({ example: -2 }),
    reason: z.enum(REASONS).openapi({ example: 'sold' }),
    note: z.string().nullable().openapi({ example: 'order 1042' }),
    quantity_after: z.number().int().openapi({ description: "The level's on hand after this movement", example: 83 }),
    reference: z.string().nullable().openapi({ example: 'order-1042' }),
    transfer_id: z.number().int().nullable().openapi({ example: null }),
    reservation_id: z.number().int().nullable().openapi({ example: null }),
    created_at: z.string().openapi({ format: 'date-time', example: '2026-11-22T10:15:30.123456Z' }),
  })
  .openapi('StockMovement');

/** An external reference, such as an order number. */
export const REFERENCE = text()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .nullable()
  .openapi({ description: 'An external reference, such as an order number', example: 'order-1042' });

export const StockAdjustmentSchema = z
  .strictObject({
    delta: z
      .number()
      .int(QUANTITY_MESSAGES.whole)
      .min(-QUANTITY_MAX, `must be at least ${-QUANTITY_MAX}`)
      .max(QUANTITY_MAX, QUANTITY_MESSAGES.max)
      .refine((d) => d !== 0, 'must not be 0')
      .openapi({
        description: 'Units added (positive) or removed (negative); never 0',
        not: { const: 0, example: 0 },
        example: -2,
      }),
    reason: z.enum(ADJUSTMENT_REASONS, `must be one of ${ADJUSTMENT_REASONS.join(', ')}`).openapi({ example: 'sold' }),
    note: text().max(500, 'must be at most 500 characters').nullable().optional().openapi({ example: 'order 1042' }),
    location: z
      .number()
      .int()
      .min(1)
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .openapi({ description: 'Location id; the default location when absent', example: 1 }),
    expected_on_hand: z.number().int(QUANTITY_MESSAGES.whole).min(0).max(QUANTITY_MAX, QUANTITY_MESSAGES.max).optional().openapi({
      description: 'Compare and set: refused with 409 `quantity_changed` unless the level holds exactly this on hand',
      example: 85,
    }),
    reference: REFERENCE.optional(),
  })
  .openapi('StockAdjustment');

export const StockAdjustmentResultSchema = z
  .object({ movement: StockMovementSchema, product: ProductSchema })
  .openapi('StockAdjustmentResult');

export const MovementListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ description: 'Page size' }),
  cursor: z.string().max(200).optional().openapi({ description: 'Opaque cursor from the previous page\'s Link rel="next"' }),
});

/** The most items a batch may hold. */
export const BATCH_MAX = 1000;

export const StockBatchItemSchema = z
  .strictObject({
    product: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).openapi({ description: 'Product id', example: 42 }),
    ...StockAdjustmentSchema.shape,
  })
  .openapi('StockBatchItem', { example: { product: 42, delta: -2, reason: 'sold', reference: 'order-1042' } });

export const StockBatchSchema = z
  .strictObject({
    adjustments: z
      .array(StockBatchItemSchema)
      .min(1, 'must hold at least 1 adjustment')
      .max(BATCH_MAX, `must hold at most ${BATCH_MAX} adjustments`)
      .openapi({
        description:
          `1 to ${BATCH_MAX} adjustments, applied all or nothing. Several items may name the same product and ` +
          'location: they apply in the order of their index, each seeing the ones before it.',
        example: [
          { product: 42, delta: -2, reason: 'sold', reference: 'order-1042' },
          { product: 42, location: 3, delta: 12, reason: 'received', expected_on_hand: 0 },
          { product: 57, delta: -1, reason: 'sold', reference: 'order-1042' },
        ],
      }),
  })
  .openapi('StockBatch');

export const StockBatchResultSchema = z
  .object({
    movements: z.array(StockMovementSchema).openapi({ description: "The movements recorded, one per item, in the items' order" }),
    products: z.array(ProductSchema).openapi({ description: 'Each product the batch touched, as it is after it, by id' }),
  })
  .openapi('StockBatchResult');
