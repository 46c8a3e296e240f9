import type { RouteHandler } from '@hono/zod-openapi';
import type { AppEnv } from '../http/context.ts';
import { decodeCursor, encodeCursor, invalidCursor, isRowId, nextLink } from '../http/cursor.ts';
import { createTransfer, listTransfers } from './queries.ts';
import type { createTransferRoute, listTransfersRoute } from './routes.ts';

export const create: RouteHandler<typeof createTransferRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json');
  const result = await createTransfer(c.var.sql, {
    product: body.product,
    from: body.from,
    to: body.to,
    quantity: body.quantity,
    note: body.note ?? null,
  });
  return c.json(result, 201);
};

export const list: RouteHandler<typeof listTransfersRoute, AppEnv> = async (c) => {
  const { product, location, limit, cursor } = c.req.valid('query');
  let before: number | undefined;
  if (cursor !== undefined) {
    const [last] = decodeCursor(cursor, 'transfers') ?? [];
    if (!isRowId(last)) throw invalidCursor('not a cursor returned by this listing');
    before = last;
  }
  const rows = await listTransfers(c.var.sql, { product, location, limit, before });
  if (rows.length > limit) {
    rows.length = limit;
    c.header('Link', nextLink(c.req.url, encodeCursor('transfers', [rows[rows.length - 1]!.id])));
  }
  return c.json(rows, 200);
};
