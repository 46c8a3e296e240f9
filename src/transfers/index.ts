import { createRouter } from '../http/router.ts';
import * as handlers from './handlers.ts';
import { createTransferRoute, listTransfersRoute } from './routes.ts';

export const transfersApi = createRouter()
  .openapi(createTransferRoute, handlers.create)
  .openapi(listTransfersRoute, handlers.list);
