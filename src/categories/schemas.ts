import { z } from '@hono/zod-openapi';
import { nameDescription, namePattern } from '../http/name-pattern.ts';
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
    name: name(MAX_CATEGORY_NAME).openapi({
      maxLength: undefined,
      pattern: namePattern(MAX_CATEGORY_NAME),
      description: `${nameDescription(MAX_CATEGORY_NAME)} Unique case-insensitively.`,
      example: 'Garden',
    }),
    description: textUpTo(2000).nullable().optional().openapi({ example: 'Plants, tools and outdoor furniture' }),
  })
  .openapi('CategoryCreate');
