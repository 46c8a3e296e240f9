import { z } from '@hono/zod-openapi';
import { idPathSchema } from '../http/params.ts';
import { nameDescription, namePattern } from '../http/name-pattern.ts';
import { name } from '../http/text.ts';
import { QUANTITY_MAX, QUANTITY_MESSAGES } from '../products/model.ts';
import { LOCATION_CODE_MESSAGE, LOCATION_CODE_PATTERN, MAX_LOCATION_NAME } from './model.ts';

const timestamp = z.string().openapi({ format: 'date-time', example: '2026-11-30T09:12:45.123456Z' });

export const LocationSchema = z
  .object({
    id: z.number().int().openapi({ example: 3 }),
    code: z.string().openapi({ example: 'WH-NORTH' }),
    name: z.string().openapi({ example: 'North warehouse' }),
    is_default: z.boolean().openapi({
      description: 'The default location: where stock goes when an adjustment names none. It cannot be archived.',
      example: false,
    }),
    created_at: timestamp,
    updated_at: timestamp,
    archived_at: z
      .string()
      .nullable()
      .openapi({ format: 'date-time', description: 'When it was archived; null while active', example: null }),
  })
  .openapi('Location');

const code = () =>
  z
    .string()
    .regex(LOCATION_CODE_PATTERN, LOCATION_CODE_MESSAGE)
    .openapi({
      description:
        'A letter or digit, then up to 31 letters, digits, dots, underscores or hyphens. Unique case-insensitively, ' +
        'archived locations included: a code names one place for good.',
      example: 'WH-NORTH',
    });

const locationName = () =>
  name(MAX_LOCATION_NAME).openapi({
    // The pattern bounds the trimmed length; maxLength would count the whitespace around it too.
    maxLength: undefined,
    pattern: namePattern(MAX_LOCATION_NAME),
    description: nameDescription(MAX_LOCATION_NAME),
    example: 'North warehouse',
  });

export const LocationCreateSchema = z.strictObject({ code: code(), name: locationName() }).openapi('LocationCreate');

export const LocationPatchSchema = z
  .strictObject({ code: code().optional(), name: locationName().optional() })
  .openapi('LocationPatch', { description: 'A JSON merge patch: the fields present are changed' });

const limit = z.coerce.number().int().min(1).max(1000).default(100).openapi({ description: 'Page size' });
const cursor = z.string().max(200).optional().openapi({ description: 'Opaque cursor from the previous page\'s Link rel="next"' });

export const LocationListQuery = z.object({
  archived: z
    .enum(['true', 'false'])
    .default('false')
    .openapi({ description: 'true lists archived locations instead of active ones' }),
  limit,
  cursor,
});

export const LocationLevelsQuery = z.object({
  below_reorder_point: z.enum(['true', 'false']).default('false').openapi({
    description: 'true lists only the levels whose available stock is below their reorder point (levels without one never are)',
  }),
  limit,
  cursor,
});

/** `{id}` and `{location_id}` of /products/{id}/levels/{location_id}. */
export const LevelParams = z.object({
  id: idPathSchema(42, 'id', 'The product id. '),
  location_id: idPathSchema(3, 'location_id', 'The location id. '),
});

const level = {
  product_id: z.number().int().openapi({ example: 42 }),
  location_id: z.number().int().openapi({ example: 3 }),
  location_code: z.string().openapi({ example: 'WH-NORTH' }),
  on_hand: z.number().int().openapi({ description: 'Units on the shelf', example: 12 }),
  reserved: z.number().int().openapi({ description: 'Units held by open reservations that have not expired', example: 5 }),
  available: z.number().int().openapi({ description: 'on_hand - reserved, never below 0', example: 7 }),
  reorder_point: z
    .number()
    .int()
    .nullable()
    .openapi({ description: 'Below this many available units the level needs restocking; null: none set', example: 10 }),
  updated_at: z.string().openapi({
    format: 'date-time',
    description: 'When on hand or the reorder point last changed',
    example: '2026-11-30T09:12:45.123456Z',
  }),
};

export const StockLevelSchema = z.object(level).openapi('StockLevel', { description: "A product's stock at one location" });

export const LocationStockLevelSchema = z
  .object({
    ...level,
    sku: z.string().openapi({ example: 'ELEC-WL-MOUSE' }),
    name: z.string().openapi({ example: 'Wireless Optical Mouse' }),
  })
  .openapi('LocationStockLevel', { description: 'A stock level at a location, with its product' });

export const LevelPatchSchema = z
  .strictObject({
    reorder_point: z
      .number()
      .int(QUANTITY_MESSAGES.whole)
      .min(0, 'must be at least 0')
      .max(QUANTITY_MAX, QUANTITY_MESSAGES.max)
      .nullable()
      .openapi({ description: 'The new reorder point; null removes it', example: 10 }),
  })
  .openapi('LevelPatch');
