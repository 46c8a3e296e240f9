import { createRouter } from '../http/router.ts';
import { createCategory, deleteCategoryHandler, listCategoriesHandler } from './handlers.ts';
import { createCategoryRoute, deleteCategoryRoute, listCategoriesRoute } from './routes.ts';

export const categoriesApi = createRouter()
  .openapi(listCategoriesRoute, listCategoriesHandler)
  .openapi(createCategoryRoute, createCategory)
  .openapi(deleteCategoryRoute, deleteCategoryHandler);
