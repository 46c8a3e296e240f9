import { createRouter } from '../http/router.ts';
import * as handlers from './handlers.ts';
import {
  archiveLocationRoute,
  createLocationRoute,
  getLocationRoute,
  listLocationLevelsRoute,
  listLocationsRoute,
  listProductLevelsRoute,
  setReorderPointRoute,
  updateLocationRoute,
} from './routes.ts';

export const locationsApi = createRouter()
  .openapi(listLocationsRoute, handlers.list)
  .openapi(createLocationRoute, handlers.create)
  .openapi(getLocationRoute, handlers.get)
  .openapi(updateLocationRoute, handlers.update)
  .openapi(archiveLocationRoute, handlers.archive)
  .openapi(listProductLevelsRoute, handlers.listProductLevels)
  .openapi(listLocationLevelsRoute, handlers.listLocationLevels)
  .openapi(setReorderPointRoute, handlers.setReorderPoint);
