import { createRouter } from '../http/router.ts';
import { liveness, readiness } from './handlers.ts';
import { livenessRoute, readinessRoute } from './routes.ts';

export const healthApi = createRouter().openapi(livenessRoute, liveness).openapi(readinessRoute, readiness);
