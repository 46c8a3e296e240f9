import { z } from '@hono/zod-openapi';
import { text } from '../http/text.ts';

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
    name: text().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters')
      .openapi({ example: 'Garden' }),
    description: text().max(2000, 'must be at most 2000 characters').nullable().optional()
      .openapi({ example: 'Plants, tools and outdoor furniture' }),
  })
  .openapi('CategoryCreate');
