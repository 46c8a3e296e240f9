import { createRoute, z } from '@hono/zod-openapi';
import { bodyErrors, errorResponses } from '../errors.ts';
import { IdempotencyKeyHeader, IdParam } from '../http/params.ts';
import { KEY, KEY_FOR_READS, READ_FROM } from '../http/route-policy.ts';
import {
  ReservationCreateSchema,
  ReservationFulfilmentSchema,
  ReservationFulfilSchema,
  ReservationListQuery,
  ReservationSchema,
} from './schemas.ts';

const tags = ['Reservations'];
const reservationJson = (description: string) => ({
  description,
  content: { 'application/json': { schema: ReservationSchema } },
});

export const createReservationRoute = createRoute({
  method: 'post',
  path: '/reservations',
  operationId: 'createReservation',
  summary: 'Reserve stock',
  description:
    'Holds `quantity` available units of a product at a location (the default location when `location` is absent) ' +
    'until the reservation expires, is released or is fulfilled. Give its expiry as `expires_in_s` (1 to 30 days) or ' +
    '`expires_at`, exactly one. Held units are not available to sales, transfers or other reservations; past its ' +
    'expiry a reservation stops holding them at once. More than is available is refused with 409 ' +
    '`insufficient_stock` and writes nothing. Send an `Idempotency-Key` to retry safely: a replay returns the same ' +
    'reservation without reserving twice.',
  tags,
  security: KEY,
  request: {
    headers: IdempotencyKeyHeader,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: ReservationCreateSchema,
          examples: {
            expires_in_s: {
              summary: 'Two units at the default location for 15 minutes',
              value: { product: 42, quantity: 2, expires_in_s: 900, reference: 'order-1042' },
            },
            expires_at: {
              summary: 'One unit at location 2 until a given instant',
              value: { product: 42, location: 2, quantity: 1, expires_at: '2026-12-01T18:00:00Z' },
            },
          },
        },
      },
    },
  },
  responses: {
    201: reservationJson('The reservation, open'),
    ...errorResponses([...bodyErrors, 'not_found', 'insufficient_stock', 'request_in_progress', 'idempotency_key_reused']),
  },
});

export const getReservationRoute = createRoute({
  method: 'get',
  path: '/reservations/{id}',
  operationId: 'getReservation',
  summary: 'Get a reservation',
  description: 'The reservation as stored, except that an open one past its expiry is shown `expired`.',
  tags,
  security: KEY_FOR_READS,
  [READ_FROM]: 'standby',
  request: { params: IdParam },
  responses: {
    200: reservationJson('The reservation'),
    ...errorResponses(['not_found', 'validation_failed']),
  },
});

export const releaseReservationRoute = createRoute({
  method: 'delete',
  path: '/reservations/{id}',
  operationId: 'releaseReservation',
  summary: 'Release a reservation',
  description:
    'Releases an open reservation: its units are available again at once. Answers 200 with the reservation, now ' +
    '`released`. A reservation that is not open (released, fulfilled or expired) is refused with 409 ' +
    '`reservation_closed`, so a repeated release says it was already done.',
  tags,
  security: KEY,
  request: { params: IdParam },
  responses: {
    200: reservationJson('The reservation, released'),
    ...errorResponses(['not_found', 'reservation_closed', 'validation_failed']),
  },
});

export const fulfilReservationRoute = createRoute({
  method: 'post',
  path: '/reservations/{id}/fulfil',
  operationId: 'fulfilReservation',
  summary: 'Fulfil a reservation',
  description:
    "Sells the reservation's whole quantity: a `sold` movement at its location with its `reference` and " +
    '`reservation_id`, and the product after it; the reservation is then `fulfilled`. Partial fulfilment is not ' +
    'offered: to sell fewer units, release the reservation and record the sale with ' +
    '`POST /products/{id}/stock-adjustments`. A reservation that is not open (released, fulfilled or expired) is ' +
    'refused with 409 `reservation_closed`. The body is optional. Send an `Idempotency-Key` to retry safely.',
  tags,
  security: KEY,
  request: {
    params: IdParam,
    headers: IdempotencyKeyHeader,
    body: {
      required: false,
      content: {
        'application/json': {
          schema: ReservationFulfilSchema,
          examples: { note: { summary: 'With a note', value: { note: 'shipped with order 1042' } } },
        },
      },
    },
  },
  responses: {
    201: {
      description: 'The sale recorded and the product after it',
      headers: z.object({ ETag: z.string().openapi({ description: 'The product version', example: '"5"' }) }),
      content: { 'application/json': { schema: ReservationFulfilmentSchema } },
    },
    ...errorResponses([...bodyErrors, 'not_found', 'reservation_closed', 'request_in_progress', 'idempotency_key_reused']),
  },
});

export const listReservationsRoute = createRoute({
  method: 'get',
  path: '/reservations',
  operationId: 'listReservations',
  summary: 'List reservations',
  description:
    'Reservations, newest first, filtered by `product`, `location`, `reference` and `state` (as shown: `open` means ' +
    'open and unexpired; `expired` includes open ones past their expiry). More pages follow through the `Link` ' +
    'header (`rel="next"`).',
  tags,
  security: KEY_FOR_READS,
  [READ_FROM]: 'standby',
  request: { query: ReservationListQuery },
  responses: {
    200: {
      description: 'One page of reservations',
      headers: z.object({
        Link: z
          .string()
          .optional()
          .openapi({ example: '</reservations?state=open&cursor=WyJyZXNlcnZhdGlvbnMiLDE3XQ>; rel="next"' }),
      }),
      content: { 'application/json': { schema: z.array(ReservationSchema) } },
    },
    ...errorResponses(['validation_failed']),
  },
});
