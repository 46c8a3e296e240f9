import { createRouter } from '../http/router.ts';
import { inventoryReport } from './handlers.ts';
import { inventoryReportRoute } from './routes.ts';

export const reportsApi = createRouter().openapi(inventoryReportRoute, inventoryReport);
