import type { RouteHandler } from '@hono/zod-openapi';
import type { AppEnv } from '../http/context.ts';
import { insertCategory, listCategories } from './queries.ts';
import type { createCategoryRoute, listCategoriesRoute } from './routes.ts';

export const listCategoriesHandler: RouteHandler<typeof listCategoriesRoute, AppEnv> = async (c) => {
  return c.json(await listCategories(c.var.sql), 200);
};

export const createCategory: RouteHandler<typeof createCategoryRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json');
  const row = await insertCategory(c.var.sql, body.name, body.description ?? null);
  return c.json(row, 201);
};
