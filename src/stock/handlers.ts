import type { RouteHandler } from '@hono/zod-openapi';
import { ApiError, fromDatabaseError, type ProblemCode } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { decodeCursor, encodeCursor, invalidCursor, isRowId, nextLink } from '../http/cursor.ts';
import { withEtag } from '../http/etag.ts';
import { toProduct } from '../products/model.ts';
import { productState } from '../products/queries.ts';
import { adjustStock, adjustStockBatch, listMovements as readMovements, type BatchRefusal } from './queries.ts';
import type { adjustStockBatchRoute, adjustStockRoute, listMovementsRoute } from './routes.ts';

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
  return c.json({ movement: result.movement, product: withEtag(c, result.product, toProduct(result.product)) }, 201);
};

/** A refused batch's problem code: the gravest of its items' (first in this list). */
const BATCH_GRAVITY: ProblemCode[] = ['validation_failed', 'not_found', 'quantity_changed', 'insufficient_stock'];

/** The problem a refused batch answers: every refused item named by its index, nothing written. */
function batchProblem(refusals: BatchRefusal[], size: number): ApiError {
  const refused = refusals.map(({ index, error }) => {
    const problem = fromDatabaseError(error);
    if (!problem) throw error;
    const detail = problem.code === 'validation_failed' ? 'a value breaks a rule of the catalog' : problem.detail;
    return { code: problem.code, error: { path: `adjustments[${index}]`, message: `${problem.code}: ${detail}` } };
  });
  const code = BATCH_GRAVITY.find((c) => refused.some((r) => r.code === c)) ?? refused[0]!.code;
  return new ApiError(
    code,
    `${refused.length} of ${size} adjustments were refused; nothing was changed`,
    refused.map((r) => r.error),
  );
}

export const adjustBatch: RouteHandler<typeof adjustStockBatchRoute, AppEnv> = async (c) => {
  const { adjustments } = c.req.valid('json');
  const result = await adjustStockBatch(
    c.var.sql,
    adjustments.map((a) => ({
      product: a.product,
      delta: a.delta,
      reason: a.reason,
      note: a.note ?? null,
      location: a.location,
      expectedOnHand: a.expected_on_hand,
      reference: a.reference ?? null,
    })),
  );
  if (!result.ok) throw batchProblem(result.refusals, adjustments.length);
  return c.json({ movements: result.movements, products: result.products.map(toProduct) }, 201);
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
