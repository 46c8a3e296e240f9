import type { RouteHandler } from '@hono/zod-openapi';
import { ensureCategory } from '../categories/queries.ts';
import { transaction, type Sql } from '../db.ts';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { nextLink } from '../http/cursor.ts';
import { etag, expectedVersions, noneMatch, pageEtag, withEtag } from '../http/etag.ts';
import {
  parseProductCursor,
  parseSearchCursor,
  parseSkuPrefixCursor,
  productCursorAfter,
  searchCursorAfter,
  skuPrefixCursorAfter,
} from './cursor.ts';
import { DEFAULT_CATEGORY, generateSku, skuPrefixRange, skuSearchText, toProduct } from './model.ts';
import {
  archiveProduct,
  findProductById,
  insertProduct,
  listProducts,
  listProductsBySkuPrefix,
  restoreProduct,
  searchProducts,
  updateProduct,
  type Missed,
  type NewProduct,
  type ProductChanges,
  type ProductListRow,
} from './queries.ts';
import type {
  archiveProductRoute,
  createProductRoute,
  getProductRoute,
  listProductsRoute,
  restoreProductRoute,
  updateProductRoute,
} from './routes.ts';

function notFound(id: number): ApiError {
  return new ApiError('not_found', `no product with id ${id}`);
}

/** Why a conditional write matched no row: the product is gone (404) or changed since the ETag (412). */
function missed({ missed }: Missed, id: number): ApiError {
  return missed === 'stale'
    ? new ApiError('precondition_failed', 'the product changed since the ETag in If-Match; fetch it again')
    : notFound(id);
}

export const create: RouteHandler<typeof createProductRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json');
  const input: NewProduct = {
    name: body.name,
    sku: body.sku ?? generateSku(),
    description: body.description ?? null,
    price: String(body.price),
    quantity: body.quantity ?? 0,
    category: body.category ?? DEFAULT_CATEGORY,
  };
  const sql = c.var.sql;
  // Fast path: the category exists and one statement does it all. Otherwise
  // create the category and the product in one transaction.
  const row =
    (await insertProduct(sql, input)) ??
    (await transaction(sql, async (tx) => {
      await ensureCategory(tx, input.category);
      return insertProduct(tx, input);
    }));
  if (!row) throw new Error('product insert returned no row after creating its category');
  c.header('Location', `/products/${row.id}`);
  return c.json(withEtag(c, row, toProduct(row)), 201);
};

export const get: RouteHandler<typeof getProductRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const row = await findProductById(c.var.sql, id);
  if (!row) throw notFound(id);
  const tag = etag(row);
  c.header('ETag', tag);
  if (noneMatch(c.req.valid('header')['if-none-match'], tag)) return c.body(null, 304);
  return c.json(toProduct(row), 200);
};

export const update: RouteHandler<typeof updateProductRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const { quantity: _, category, price, ...rest } = c.req.valid('json');
  const versions = expectedVersions(c.req.valid('header')['if-match']);
  const changes: ProductChanges = { ...rest, ...(price === undefined ? {} : { price: String(price) }) };
  const write = async (sql: Sql) => {
    if (category !== undefined) changes.category_id = (await ensureCategory(sql, category)).id;
    const result = await updateProduct(sql, id, changes, versions);
    if ('missed' in result) throw missed(result, id);
    return result.row;
  };
  // A new category is created only when the product change commits with it; without
  // one, the update is a single statement and needs no transaction around it.
  const row = category === undefined ? await write(c.var.sql) : await transaction(c.var.sql, write);
  return c.json(withEtag(c, row, toProduct(row)), 200);
};

export const archive: RouteHandler<typeof archiveProductRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const versions = expectedVersions(c.req.valid('header')['if-match']);
  const outcome = await archiveProduct(c.var.sql, id, versions);
  if (outcome === 'archived') return c.body(null, 204);
  throw missed({ missed: outcome }, id);
};

export const restore: RouteHandler<typeof restoreProductRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const row = await restoreProduct(c.var.sql, id);
  if (!row) throw new ApiError('not_found', `no archived product with id ${id}`);
  return c.json(withEtag(c, row, toProduct(row)), 200);
};

export const list: RouteHandler<typeof listProductsRoute, AppEnv> = async (c) => {
  const q = c.req.valid('query');
  const archived = q.archived === 'true';
  const sort = q.sort ?? 'name';
  const chosen = { category: q.category, archived, limit: q.limit };
  let rows: ProductListRow[];
  /** The cursor of the page after the row at `index`. */
  let cursorAt: (index: number) => string;
  if (q.q !== undefined) {
    const after = q.cursor === undefined ? undefined : parseSearchCursor(q.cursor, archived);
    const found = await searchProducts(c.var.sql, { ...chosen, text: q.q, sku: skuSearchText(q.q), after });
    // The rank is the page's key, not part of a product.
    rows = found.map(({ rank: _, ...row }) => row);
    cursorAt = (index) => searchCursorAfter(found[index]!, archived);
  } else if (q.sku_prefix !== undefined) {
    const after = q.cursor === undefined ? undefined : parseSkuPrefixCursor(q.cursor, archived);
    rows = await listProductsBySkuPrefix(c.var.sql, { ...chosen, ...skuPrefixRange(q.sku_prefix), after });
    cursorAt = (index) => skuPrefixCursorAfter(rows[index]!, archived);
  } else {
    const after = q.cursor === undefined ? undefined : parseProductCursor(q.cursor, sort, archived);
    rows = await listProducts(c.var.sql, { ...chosen, sku: q.sku, sort, after });
    cursorAt = (index) => productCursorAfter(rows[index]!, sort, archived);
  }
  // A plain array of the page's rows: JSON.stringify takes its fast path on it, not on the driver's result.
  const page = rows.slice(0, q.limit);
  const link = rows.length > q.limit ? nextLink(c.req.url, cursorAt(q.limit - 1)) : '';
  if (link) c.header('Link', link);
  const tag = pageEtag(page, link);
  c.header('ETag', tag);
  if (noneMatch(c.req.valid('header')['if-none-match'], tag)) return c.body(null, 304);
  return c.json(page, 200);
};
