import type { RouteHandler } from '@hono/zod-openapi';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { deleteCategory, insertCategory, listCategories } from './queries.ts';
import type { createCategoryRoute, deleteCategoryRoute, listCategoriesRoute } from './routes.ts';

export const list: RouteHandler<typeof listCategoriesRoute, AppEnv> = async (c) => {
  return c.json(await listCategories(c.var.sql), 200);
};

export const create: RouteHandler<typeof createCategoryRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json');
  const row = await insertCategory(c.var.sql, body.name, body.description ?? null);
  return c.json(row, 201);
};

/** DELETE /categories/{id} (`delete` itself is a reserved word). */
export const remove: RouteHandler<typeof deleteCategoryRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const outcome = await deleteCategory(c.var.sql, id);
  if (outcome === 'missing') throw new ApiError('not_found', `no category with id ${id}`);
  if (outcome === 'not_empty')
    throw new ApiError('category_not_empty', 'the category still has products (archived ones included)');
  return c.body(null, 204);
};
