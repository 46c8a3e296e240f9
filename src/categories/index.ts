import { createRouter } from '../http/router.ts';
import * as handlers from './handlers.ts';
import { createCategoryRoute, deleteCategoryRoute, listCategoriesRoute } from './routes.ts';

export const categoriesApi = createRouter()
  .openapi(listCategoriesRoute, handlers.list)
  .openapi(createCategoryRoute, handlers.create)
  .openapi(deleteCategoryRoute, handlers.remove);
