import { createRouter } from '../http/router.ts';
import { adjustStockHandler, listMovementsHandler } from './handlers.ts';
import { adjustStockRoute, listMovementsRoute } from './routes.ts';

export const stockApi = createRouter()
  .openapi(adjustStockRoute, adjustStockHandler)
  .openapi(listMovementsRoute, listMovementsHandler);
