import { createRouter } from '../http/router.ts';
import * as handlers from './handlers.ts';
import { adjustStockRoute, listMovementsRoute } from './routes.ts';

export const stockApi = createRouter()
  .openapi(adjustStockRoute, handlers.adjust)
  .openapi(listMovementsRoute, handlers.listMovements);
