import type { RouteHandler } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { randomBytes } from 'node:crypto';
import { ensureCategory } from '../categories/queries.ts';
import { transaction, type Sql } from '../db.ts';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { decodeCursor, encodeCursor, nextLink } from '../http/cursor.ts';
import { etag, expectedVersions } from '../http/etag.ts';
import { codePoints, isCleanName, MAX_PRODUCT_NAME } from '../http/text.ts';
import {
  archiveProduct, findProductById, insertProduct, listProducts, productState, restoreProduct, updateProduct,
  type Keyset, type NewProduct, type ProductChanges, type ProductListRow, type ProductRow,
} from './queries.ts';
import type {
  archiveProductRoute, createProductRoute, getProductRoute, listProductsRoute, restoreProductRoute, updateProductRoute,
} from './routes.ts';
import type { ProductSort } from './schemas.ts';

export const DEFAULT_CATEGORY = 'Uncategorized';

/** The product as the API returns it: price as a JSON number (2 decimals at most, as stored). */
export function toProduct({ version: _, ...row }: ProductRow) {
  return { ...row, price: Number(row.price) };
}

/** Sets the ETag of the product the response carries. */
export function withEtag(c: Context<AppEnv>, row: ProductRow) {
  c.header('ETag', etag(row.version));
  return toProduct(row);
}

function notFound(id: number): ApiError {
  return new ApiError('not_found', `no product with id ${id}`);
}

/** Why a conditional write matched no row: the product is gone (404) or changed since the ETag (412). */
async function missingOrStale(sql: Sql, id: number): Promise<ApiError> {
  return (await productState(sql, id)) === 'active'
    ? new ApiError('precondition_failed', 'the product changed since the ETag in If-Match; fetch it again')
    : notFound(id);
}

/** A unique-enough SKU for products created without one: 60 random bits. */
function generateSku(): string {
  return `SKU-${randomBytes(8).toString('hex').slice(0, 15).toUpperCase()}`;
}

export const createProduct: RouteHandler<typeof createProductRoute, AppEnv> = async (c) => {
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
  const row = (await insertProduct(sql, input)) ??
    (await transaction(sql, async (tx) => {
      await ensureCategory(tx, input.category);
      return insertProduct(tx, input);
    }));
  if (!row) throw new Error('product insert returned no row after creating its category');
  c.header('Location', `/products/${row.id}`);
  return c.json(withEtag(c, row), 201);
};

export const getProduct: RouteHandler<typeof getProductRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const row = await findProductById(c.var.sql, id);
  if (!row) throw notFound(id);
  return c.json(withEtag(c, row), 200);
};

export const updateProductHandler: RouteHandler<typeof updateProductRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const { quantity: _, category, price, ...rest } = c.req.valid('json');
  const versions = expectedVersions(c.req.valid('header')['if-match']);
  const changes: ProductChanges = { ...rest, ...(price === undefined ? {} : { price: String(price) }) };
  // A new category is created only when the product change commits with it.
  const row = await transaction(c.var.sql, async (tx) => {
    if (category !== undefined) changes.category_id = (await ensureCategory(tx, category)).id;
    const updated = await updateProduct(tx, id, changes, versions);
    if (!updated) throw await missingOrStale(tx, id);
    return updated;
  });
  return c.json(withEtag(c, row), 200);
};

export const archiveProductHandler: RouteHandler<typeof archiveProductRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const versions = expectedVersions(c.req.valid('header')['if-match']);
  if (await archiveProduct(c.var.sql, id, versions)) return c.body(null, 204);
  throw await missingOrStale(c.var.sql, id);
};

export const restoreProductHandler: RouteHandler<typeof restoreProductRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const row = await restoreProduct(c.var.sql, id);
  if (!row) throw new ApiError('not_found', `no archived product with id ${id}`);
  return c.json(withEtag(c, row), 200);
};

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

/** An RFC 3339 UTC timestamp as we write them, naming a real instant (no 13th month, no February 30th). */
function isTimestamp(value: string): boolean {
  if (!TIMESTAMP.test(value)) return false;
  const date = new Date(value);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 19) === value.slice(0, 19);
}
const DECIMAL = /^\d{1,8}(\.\d{1,2})?$/;

/** Checks a cursor's key against its sort, so only well-typed values reach SQL. */
function parseCursor(text: string, sort: ProductSort, archived: boolean): Keyset {
  const key = decodeCursor(text, archived ? `archived:${sort}` : sort);
  const field = sort.replace(/^-/, '');
  const [value, id] = key ?? [];
  const valid = typeof value === 'string' &&
    // A name as the service stores them: the same characters and length in code points.
    (field === 'name' ? isCleanName(value) && codePoints(value) <= MAX_PRODUCT_NAME
      : field === 'price' ? DECIMAL.test(value)
      : isTimestamp(value)) &&
    Number.isSafeInteger(id) && (id as number) > 0;
  if (!valid) {
    throw new ApiError('validation_failed', 'the cursor is not valid for this listing', [
      { path: 'cursor', message: 'not a cursor returned by this listing with the same sort' },
    ]);
  }
  return { key: value as string, id: id as number };
}

function keyOf(row: ProductListRow, sort: ProductSort): [string, number] {
  const field = sort.replace(/^-/, '') as 'name' | 'price' | 'created_at';
  // A price below 10^8 with 2 decimals prints as plain decimal text, which the cursor check accepts.
  return [String(row[field]), row.id];
}

export const listProductsHandler: RouteHandler<typeof listProductsRoute, AppEnv> = async (c) => {
  const q = c.req.valid('query');
  const archived = q.archived === 'true';
  const after = q.cursor === undefined ? undefined : parseCursor(q.cursor, q.sort, archived);
  const rows = await listProducts(c.var.sql, {
    category: q.category,
    sku: q.sku,
    archived,
    sort: q.sort,
    limit: q.limit,
    after,
  });
  // A plain array of the page's rows: JSON.stringify takes its fast path on it, not on the driver's result.
  const page = rows.slice(0, q.limit);
  if (rows.length > q.limit) {
    const cursor = encodeCursor(archived ? `archived:${q.sort}` : q.sort, keyOf(page[page.length - 1]!, q.sort));
    c.header('Link', nextLink(c.req.url, cursor));
  }
  return c.json(page, 200);
};
