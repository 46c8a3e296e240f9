import { createRouter } from '../http/router.ts';
import { createProduct, getProduct, listProductsHandler } from './handlers.ts';
import { createProductRoute, getProductRoute, listProductsRoute } from './routes.ts';

export const productsApi = createRouter()
  .openapi(createProductRoute, createProduct)
  .openapi(listProductsRoute, listProductsHandler)
  .openapi(getProductRoute, getProduct);
