import type { RouteHandler } from '@hono/zod-openapi';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { decodeCursor, encodeCursor, invalidCursor, isRowId, nextLink } from '../http/cursor.ts';
import {
  archiveLocation,
  findLocationById,
  insertLocation,
  listLocationLevels as readLocationLevels,
  listLocations,
  listProductLevels as readProductLevels,
  setReorderPoint as writeReorderPoint,
  updateLocation,
} from './queries.ts';
import type {
  archiveLocationRoute,
  createLocationRoute,
  getLocationRoute,
  listLocationLevelsRoute,
  listLocationsRoute,
  listProductLevelsRoute,
  setReorderPointRoute,
  updateLocationRoute,
} from './routes.ts';

const noLocation = (id: number) => new ApiError('not_found', `no location with id ${id}`);

/** The id a listing's cursor ends at: a cursor made for `label`, else 422. */
function cursorId(cursor: string | undefined, label: string): number | undefined {
  if (cursor === undefined) return undefined;
  const [last] = decodeCursor(cursor, label) ?? [];
  if (!isRowId(last)) throw invalidCursor('not a cursor returned by this listing with the same filter');
  return last;
}

export const list: RouteHandler<typeof listLocationsRoute, AppEnv> = async (c) => {
  const q = c.req.valid('query');
  const archived = q.archived === 'true';
  const label = archived ? 'archived:locations' : 'locations';
  const rows = await listLocations(c.var.sql, { archived, limit: q.limit, after: cursorId(q.cursor, label) });
  const page = rows.slice(0, q.limit);
  if (rows.length > q.limit) c.header('Link', nextLink(c.req.url, encodeCursor(label, [page[page.length - 1]!.id])));
  return c.json(page, 200);
};

export const create: RouteHandler<typeof createLocationRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json');
  const row = await insertLocation(c.var.sql, body.code, body.name);
  c.header('Location', `/locations/${row.id}`);
  return c.json(row, 201);
};

export const get: RouteHandler<typeof getLocationRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const row = await findLocationById(c.var.sql, id);
  if (!row) throw noLocation(id);
  return c.json(row, 200);
};

export const update: RouteHandler<typeof updateLocationRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const row = await updateLocation(c.var.sql, id, c.req.valid('json'));
  if (!row) throw new ApiError('not_found', `no active location with id ${id}`);
  return c.json(row, 200);
};

export const archive: RouteHandler<typeof archiveLocationRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  // Refusals (IV002 missing, IV007 in use) are answered by the error handler (src/errors.ts).
  await archiveLocation(c.var.sql, id);
  return c.body(null, 204);
};

export const listProductLevels: RouteHandler<typeof listProductLevelsRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const rows = await readProductLevels(c.var.sql, id);
  if (!rows) throw new ApiError('not_found', `no product with id ${id}`);
  return c.json(rows, 200);
};

export const listLocationLevels: RouteHandler<typeof listLocationLevelsRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const q = c.req.valid('query');
  const belowReorderPoint = q.below_reorder_point === 'true';
  const label = belowReorderPoint ? 'levels:below_reorder_point' : 'levels';
  const after = cursorId(q.cursor, label);
  const rows = await readLocationLevels(c.var.sql, id, { belowReorderPoint, limit: q.limit, after });
  if (!rows) throw noLocation(id);
  const page = rows.slice(0, q.limit);
  if (rows.length > q.limit) {
    c.header('Link', nextLink(c.req.url, encodeCursor(label, [page[page.length - 1]!.product_id])));
  }
  return c.json(page, 200);
};

export const setReorderPoint: RouteHandler<typeof setReorderPointRoute, AppEnv> = async (c) => {
  const { id, location_id } = c.req.valid('param');
  const { reorder_point } = c.req.valid('json');
  const result = await writeReorderPoint(c.var.sql, id, location_id, reorder_point);
  if ('missed' in result) {
    throw result.missed === 'product' ? new ApiError('not_found', `no active product with id ${id}`) : noLocation(location_id);
  }
  return c.json(result.row, 200);
};
