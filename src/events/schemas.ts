import { z } from '@hono/zod-openapi';
import { idFilter } from '../transfers/schemas.ts';
import {
  EVENT_TYPES,
  FEED_MAX_LIMIT,
  isEventType,
  parsePosition,
  POSITION_MESSAGE,
  POSITION_PATTERN,
  unknownTypeMessage,
} from './model.ts';

const STOCK_EXAMPLE = {
  product_id: 42,
  sku: 'HAMMER-01',
  location_id: 1,
  location_code: 'MAIN',
  on_hand: 83,
  reserved: 2,
  available: 81,
  available_before: 83,
  available_delta: -2,
  reorder_point: null,
  movement_id: 1201,
  delta: -2,
  reason: 'sold',
  note: null,
  reference: 'order-1042',
  transfer_id: null,
  reservation_id: null,
};

export const EventSchema = z
  .object({
    id: z.number().int().openapi({ description: "The event's identity: the same event always has the same id", example: 5120 }),
    position: z.number().int().openapi({
      description: "The event's place in the feed, in the order its changes committed; continue after it with `after`",
      example: 5118,
    }),
    type: z.enum(EVENT_TYPES).openapi({ example: 'stock.adjusted' }),
    product_id: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'The product it concerns; null for categories and imports', example: 42 }),
    data: z.record(z.string(), z.unknown().openapi({ description: 'A field of the event', example: 83 })).openapi({
      description:
        'What a consumer needs without calling back. `product.*`: the product (id, sku, name, description, price, ' +
        'quantity, category, archived, created_at, updated_at; `product.updated` adds `changed`, the fields that ' +
        'changed). `category.*`: id, name, description. `stock.*`: every one has the location (location_id, ' +
        'location_code), on_hand, available, delta, reason and reference, with the same meaning in each type. ' +
        'The level after the change: product_id, sku, location_id, location_code, on_hand, reserved, available, ' +
        "available_before (null for a level's first stock), available_delta (available - available_before, from 0 " +
        'for a first stock), reorder_point. `delta` is always the change of on_hand, as in the stock ledger (summed ' +
        "per level, deltas give on_hand): a movement's delta for adjusted, transferred and fulfilled; 0 for " +
        'reserved, released and expired, which move no stock (what they do to available is available_delta: a ' +
        "fulfilment has delta -n and available_delta 0). `reason`: the movement's reason (received, sold, " +
        'transfer_out, transfer_in, initial, ...); `reserved`, `released` or `expired` for a reservation. ' +
        "`reference`: the movement's or the reservation's reference (null when it has none). Besides: a movement's " +
        "movement_id, note, transfer_id and reservation_id for adjusted, transferred and fulfilled; a reservation's " +
        'reservation_id, quantity, expires_at and state for reserved, released and expired. out_of_stock, ' +
        'back_in_stock and low_stock carry delta, reason and reference of the change that caused them, and `cause`, ' +
        'its type. `import.completed`: file, rows, inserted, updated, unchanged, categories_created, invalid_rows ' +
        '(each product and movement of the import has its own events before it).',
      example: STOCK_EXAMPLE,
    }),
    occurred_at: z.string().openapi({
      format: 'date-time',
      description: 'When the transaction that made the change began',
      example: '2026-11-30T09:00:00.123456Z',
    }),
  })
  .openapi('Event');

/** A position in a query string or header: 0 or a whole number, one spelling per number. */
const position = (description: string) =>
  z
    .string()
    .refine((text) => parsePosition(text) !== undefined, POSITION_MESSAGE)
    .transform(Number)
    .optional()
    .openapi({
      type: 'integer',
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      pattern: POSITION_PATTERN.source,
      description,
    });

/** `type=a,b`: known types, each at most once; refused (422) with the list of known types otherwise. */
const typeFilter = z
  .string()
  .max(1000)
  .transform((text, ctx) => {
    const types = [...new Set(text.split(',').map((t) => t.trim()))];
    for (const type of types) {
      if (!isEventType(type)) ctx.addIssue({ code: 'custom', message: unknownTypeMessage(type) });
    }
    return types.filter(isEventType);
  })
  .optional()
  .openapi({
    type: 'string',
    description: `Only events of these types, comma-separated (e.g. stock.out_of_stock,stock.back_in_stock); one of ${EVENT_TYPES.join(', ')}`,
  });

const filters = {
  type: typeFilter,
  product: idFilter('Only events of this product', 42),
};

export const EventListQuery = z.object({
  after: position(
    'Only events after this position: 0 (the default) for the whole feed, or the `Events-Last-Position` of the previous answer',
  ),
  ...filters,
  limit: z.coerce.number().int().min(1).max(FEED_MAX_LIMIT).default(100).openapi({ description: 'Page size' }),
});

export const EventStreamQuery = z.object({
  after: position('Start after this position (ignored when `Last-Event-ID` is sent); without either, only new events follow'),
  ...filters,
});

export const EventStreamHeaders = z.object({
  'last-event-id': position(
    'Resume after this position: the `id` of the last message received (an EventSource sends it when it reconnects)',
  ),
});
