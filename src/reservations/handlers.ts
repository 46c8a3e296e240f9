import type { RouteHandler } from '@hono/zod-openapi';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { decodeCursor, encodeCursor, invalidCursor, isRowId, nextLink } from '../http/cursor.ts';
import { withEtag } from '../http/etag.ts';
import { toProduct } from '../products/model.ts';
import { RESERVATION_MAX_SECONDS } from './model.ts';
import { findReservation, fulfilReservation, listReservations, releaseReservation, reserveStock } from './queries.ts';
import type {
  createReservationRoute,
  fulfilReservationRoute,
  getReservationRoute,
  listReservationsRoute,
  releaseReservationRoute,
} from './routes.ts';

const expiryRefused = (message: string) =>
  new ApiError('validation_failed', 'the request body has 1 invalid field', [{ path: 'expires_at', message }]);

export const create: RouteHandler<typeof createReservationRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json');
  if (body.expires_at !== undefined && Date.parse(body.expires_at) > Date.now() + RESERVATION_MAX_SECONDS * 1000) {
    throw expiryRefused('must be at most 30 days ahead');
  }
  try {
    const row = await reserveStock(c.var.sql, {
      product: body.product,
      location: body.location,
      quantity: body.quantity,
      expiresAt: body.expires_at,
      expiresInSeconds: body.expires_in_s,
      reference: body.reference ?? null,
    });
    return c.json(row, 201);
  } catch (error) {
    // stock_reserve refuses an expiry that is not in the future, by the database's clock.
    if ((error as { code?: string }).code === '22023') throw expiryRefused('must be in the future');
    throw error;
  }
};

export const get: RouteHandler<typeof getReservationRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const row = await findReservation(c.var.sql, id);
  if (!row) throw new ApiError('not_found', `no reservation with id ${id}`);
  return c.json(row, 200);
};

/** DELETE /reservations/{id}: releases it. */
export const release: RouteHandler<typeof releaseReservationRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  return c.json(await releaseReservation(c.var.sql, id), 200);
};

export const fulfil: RouteHandler<typeof fulfilReservationRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const body = c.req.valid('json') ?? {};
  const result = await fulfilReservation(c.var.sql, id, body.note ?? null);
  return c.json({ movement: result.movement, product: withEtag(c, result.product, toProduct(result.product)) }, 201);
};

export const list: RouteHandler<typeof listReservationsRoute, AppEnv> = async (c) => {
  const { product, location, reference, state, limit, cursor } = c.req.valid('query');
  let before: number | undefined;
  if (cursor !== undefined) {
    const [last] = decodeCursor(cursor, 'reservations') ?? [];
    if (!isRowId(last)) throw invalidCursor('not a cursor returned by this listing');
    before = last;
  }
  const rows = await listReservations(c.var.sql, { product, location, reference, state, limit, before });
  if (rows.length > limit) {
    rows.length = limit;
    c.header('Link', nextLink(c.req.url, encodeCursor('reservations', [rows[rows.length - 1]!.id])));
  }
  return c.json(rows, 200);
};
