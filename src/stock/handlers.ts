import type { RouteHandler } from '@hono/zod-openapi';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { decodeCursor, encodeCursor, invalidCursor, isRowId, nextLink } from '../http/cursor.ts';
import { withEtag } from '../http/etag.ts';
import { toProduct } from '../products/model.ts';
import { productState } from '../products/queries.ts';
import { adjustStock, listMovements as readMovements } from './queries.ts';
import type { adjustStockRoute, listMovementsRoute } from './routes.ts';

export const adjust: RouteHandler<typeof adjustStockRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const body = c.req.valid('json');
  const result = await adjustStock(c.var.sql, id, {
    delta: body.delta,
    reason: body.reason,
    note: body.note ?? null,
    location: body.location,
    expectedOnHand: body.expected_on_hand,
    reference: body.reference ?? null,
  });
  return c.json({ movement: result.movement, product: withEtag(c, result.product.version, toProduct(result.product)) }, 201);
};

export const listMovements: RouteHandler<typeof listMovementsRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const { limit, cursor } = c.req.valid('query');
  let before: number | undefined;
  if (cursor !== undefined) {
    const [last] = decodeCursor(cursor, 'movements') ?? [];
    if (!isRowId(last)) throw invalidCursor('not a cursor returned by this listing');
    before = last;
  }
  if ((await productState(c.var.sql, id)) === 'missing') throw new ApiError('not_found', `no product with id ${id}`);
  const rows = await readMovements(c.var.sql, id, limit, before);
  if (rows.length > limit) {
    rows.length = limit;
    c.header('Link', nextLink(c.req.url, encodeCursor('movements', [rows[rows.length - 1]!.id])));
  }
  return c.json(rows, 200);
};
