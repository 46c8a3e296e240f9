import { z } from '@hono/zod-openapi';
import { text, textUpTo } from '../http/text.ts';
import { ProductSchema } from '../products/schemas.ts';
import { REFERENCE, StockMovementSchema } from '../stock/schemas.ts';
import { idField, idFilter, unitsField } from '../transfers/schemas.ts';
import { RESERVATION_MAX_SECONDS, RESERVATION_STATES } from './model.ts';

const DATE_TIME = z.iso.datetime({ offset: true });

export const ReservationSchema = z
  .object({
    id: z.number().int().openapi({ example: 17 }),
    product_id: z.number().int().openapi({ example: 42 }),
    location_id: z.number().int().openapi({ example: 1 }),
    quantity: z.number().int().openapi({ example: 2 }),
    expires_at: z.string().openapi({ format: 'date-time', example: '2026-11-30T09:15:00.123456Z' }),
    reference: z.string().nullable().openapi({ example: 'order-1042' }),
    state: z.enum(RESERVATION_STATES).openapi({
      description:
        '`open` holds stock until `expires_at`; then it is `expired` (shown so at once, stored so lazily); ' +
        '`released` and `fulfilled` are final',
      example: 'open',
    }),
    created_at: z.string().openapi({ format: 'date-time', example: '2026-11-30T09:00:00.123456Z' }),
    closed_at: z
      .string()
      .nullable()
      .openapi({ format: 'date-time', description: 'When it stopped holding stock (its expiry, when expired)', example: null }),
  })
  .openapi('Reservation');

export const ReservationCreateSchema = z
  .strictObject({
    product: idField('Product id', 42),
    location: idField('Location id; the default location when absent', 1).optional(),
    quantity: unitsField('Units held', 2),
    expires_in_s: z
      .number()
      .int('must be a whole number of seconds')
      .min(1, 'must be at least 1')
      .max(RESERVATION_MAX_SECONDS, `must be at most ${RESERVATION_MAX_SECONDS} (30 days)`)
      .optional()
      .openapi({ description: 'Seconds until it expires (1 to 30 days); or send `expires_at`', example: 900 }),
    expires_at: DATE_TIME.optional().openapi({
      description: 'When it expires: an RFC 3339 instant in the future, at most 30 days ahead; or send `expires_in_s`',
      example: '2026-11-30T09:15:00Z',
    }),
    reference: REFERENCE.optional(),
  })
  .superRefine((r, ctx) => {
    if ((r.expires_in_s === undefined) === (r.expires_at === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['expires_in_s'], message: 'send exactly one of expires_in_s and expires_at' });
    }
  })
  .openapi('ReservationCreate');

export const ReservationFulfilSchema = z
  .strictObject({
    note: textUpTo(500).nullable().optional().openapi({ example: 'shipped with order 1042' }),
  })
  .openapi('ReservationFulfil');

export const ReservationFulfilmentSchema = z
  .object({ movement: StockMovementSchema, product: ProductSchema })
  .openapi('ReservationFulfilment');

export const ReservationListQuery = z.object({
  product: idFilter('Only reservations of this product', 42),
  location: idFilter('Only reservations at this location', 1),
  reference: text()
    .min(1)
    .max(100)
    .optional()
    .openapi({ description: 'Only reservations with this reference (e.g. order-1042)' }),
  state: z.enum(RESERVATION_STATES).optional().openapi({
    description:
      'Only reservations in this state as shown: `open` is open and unexpired; `expired` includes open ones past their expiry',
  }),
  limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ description: 'Page size' }),
  cursor: z.string().max(200).optional().openapi({ description: 'Opaque cursor from the previous page\'s Link rel="next"' }),
});
