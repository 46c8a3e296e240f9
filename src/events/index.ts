import { createRouter } from '../http/router.ts';
import * as handlers from './handlers.ts';
import { listEventsRoute, streamEventsRoute } from './routes.ts';

export const eventsApi = createRouter().openapi(listEventsRoute, handlers.list).openapi(streamEventsRoute, handlers.stream);
