import { createRouter } from '../http/router.ts';
import * as handlers from './handlers.ts';
import {
  archiveProductRoute,
  createProductRoute,
  getProductRoute,
  listProductsRoute,
  restoreProductRoute,
  updateProductRoute,
} from './routes.ts';

export const productsApi = createRouter()
  .openapi(createProductRoute, handlers.create)
  .openapi(listProductsRoute, handlers.list)
  .openapi(getProductRoute, handlers.get)
  .openapi(updateProductRoute, handlers.update)
  .openapi(archiveProductRoute, handlers.archive)
  .openapi(restoreProductRoute, handlers.restore);
