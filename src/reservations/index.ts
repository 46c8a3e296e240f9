import { createRouter } from '../http/router.ts';
import * as handlers from './handlers.ts';
import {
  createReservationRoute,
  fulfilReservationRoute,
  getReservationRoute,
  listReservationsRoute,
  releaseReservationRoute,
} from './routes.ts';

export const reservationsApi = createRouter()
  .openapi(listReservationsRoute, handlers.list)
  .openapi(createReservationRoute, handlers.create)
  .openapi(getReservationRoute, handlers.get)
  .openapi(releaseReservationRoute, handlers.release)
  .openapi(fulfilReservationRoute, handlers.fulfil);
