import { z } from '@hono/zod-openapi';
import { MAX_CATEGORY_NAME, name, textUpTo } from '../http/text.ts';

export const CategorySchema = z
  .object({
    id: z.number().int().openapi({ example: 3 }),
    name: z.string().openapi({ example: 'Electronics' }),
    description: z.string().nullable().openapi({ example: 'Phones, audio and small devices' }),
    product_count: z.number().int().openapi({ example: 7 }),
    created_at: z.string().openapi({ format: 'date-time', example: '2026-11-22T10:15:30.123456Z' }),
  })
  .openapi('Category');

export const CategoryCreateSchema = z
  .strictObject({
    name: name(MAX_CATEGORY_NAME).openapi({ example: 'Garden' }),
    description: textUpTo(2000).nullable().optional()
      .openapi({ example: 'Plants, tools and outdoor furniture' }),
  })
  .openapi('CategoryCreate');

export const CategoryIdParam = z.object({
  id: z.coerce.number().int('must be a whole number').min(1, 'must be positive').max(Number.MAX_SAFE_INTEGER)
    .openapi({ param: { name: 'id', in: 'path' }, example: 3 }),
});
