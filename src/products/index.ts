import { createRouter } from '../http/router.ts';
import {
  archiveProductHandler, createProduct, getProduct, listProductsHandler, restoreProductHandler, updateProductHandler,
} from './handlers.ts';
import {
  archiveProductRoute, createProductRoute, getProductRoute, listProductsRoute, restoreProductRoute, updateProductRoute,
} from './routes.ts';

export const productsApi = createRouter()
  .openapi(createProductRoute, createProduct)
  .openapi(listProductsRoute, listProductsHandler)
  .openapi(getProductRoute, getProduct)
  .openapi(updateProductRoute, updateProductHandler)
  .openapi(archiveProductRoute, archiveProductHandler)
  .openapi(restoreProductRoute, restoreProductHandler);
