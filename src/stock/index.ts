import { createRouter } from '../http/router.ts';
import * as handlers from './handlers.ts';
import { adjustStockBatchRoute, adjustStockRoute, listMovementsRoute } from './routes.ts';

export const stockApi = createRouter()
  .openapi(adjustStockRoute, handlers.adjust)
  .openapi(adjustStockBatchRoute, handlers.adjustBatch)
  .openapi(listMovementsRoute, handlers.listMovements);
