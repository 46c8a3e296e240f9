import { createRoute, z } from '@hono/zod-openapi';
import { bodyErrors, errorResponses } from '../errors.ts';
import { IdempotencyKeyHeader, IdParam } from '../http/params.ts';
import { KEY, KEY_FOR_READS, READ_FROM } from '../http/route-policy.ts';
import { CategoryCreateSchema, CategorySchema } from './schemas.ts';

const tags = ['Categories'];

export const listCategoriesRoute = createRoute({
  method: 'get',
  path: '/categories',
  operationId: 'listCategories',
  summary: 'List categories',
  description: 'Every category, ordered by name, with the number of products in it.',
  tags,
  security: KEY_FOR_READS,
  [READ_FROM]: 'standby',
  responses: {
    200: { description: 'All categories', content: { 'application/json': { schema: z.array(CategorySchema) } } },
    ...errorResponses([]),
  },
});

export const createCategoryRoute = createRoute({
  method: 'post',
  path: '/categories',
  operationId: 'createCategory',
  summary: 'Add a category',
  tags,
  security: KEY,
  request: {
    headers: IdempotencyKeyHeader,
    body: { required: true, content: { 'application/json': { schema: CategoryCreateSchema } } },
  },
  responses: {
    201: {
      description: 'The category as stored',
      content: { 'application/json': { schema: CategorySchema } },
    },
    ...errorResponses([...bodyErrors, 'duplicate_category', 'request_in_progress', 'idempotency_key_reused']),
  },
});

export const deleteCategoryRoute = createRoute({
  method: 'delete',
  path: '/categories/{id}',
  operationId: 'deleteCategory',
  summary: 'Delete a category',
  description: 'Deletes an empty category. One that still holds products, archived ones included, is kept (409).',
  tags,
  security: KEY,
  request: { params: IdParam },
  responses: {
    204: { description: 'Deleted' },
    ...errorResponses(['not_found', 'category_not_empty', 'validation_failed']),
  },
});
