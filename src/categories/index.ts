import { createRouter } from '../http/router.ts';
import { createCategory, listCategoriesHandler } from './handlers.ts';
import { createCategoryRoute, listCategoriesRoute } from './routes.ts';

export const categoriesApi = createRouter()
  .openapi(listCategoriesRoute, listCategoriesHandler)
  .openapi(createCategoryRoute, createCategory);
