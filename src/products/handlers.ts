import type { RouteHandler } from '@hono/zod-openapi';
import { randomBytes } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { decodeCursor, encodeCursor, nextLink } from '../http/cursor.ts';
import { ensureCategory } from '../categories/queries.ts';
import { findProductById, insertProduct, listProducts, type Keyset, type NewProduct, type ProductRow } from './queries.ts';
import type { createProductRoute, getProductRoute, listProductsRoute } from './routes.ts';
import type { ProductSort } from './schemas.ts';

export const DEFAULT_CATEGORY = 'Uncategorized';

/** The product as the API returns it: price as a JSON number (2 decimals at most, as stored). */
export function toProduct(row: ProductRow) {
  return { ...row, price: Number(row.price) };
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
    (await sql.begin(async (tx) => {
      await ensureCategory(tx, input.category);
      return insertProduct(tx, input);
    }));
  if (!row) throw new Error('product insert returned no row after creating its category');
  c.header('Location', `/products/${row.id}`);
  return c.json(toProduct(row), 201);
};

export const getProduct: RouteHandler<typeof getProductRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const row = await findProductById(c.var.sql, id);
  if (!row) throw new ApiError('not_found', `no product with id ${id}`);
  return c.json(toProduct(row), 200);
};

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
const DECIMAL = /^\d{1,8}(\.\d{1,2})?$/;

/** Checks a cursor's key against its sort, so only well-typed values reach SQL. */
function parseCursor(text: string, sort: ProductSort): Keyset {
  const key = decodeCursor(text, sort);
  const field = sort.replace(/^-/, '');
  const [value, id] = key ?? [];
  const valid = typeof value === 'string' &&
    (field === 'name' ? value.length <= 200 : field === 'price' ? DECIMAL.test(value) : TIMESTAMP.test(value)) &&
    Number.isSafeInteger(id) && (id as number) > 0;
  if (!valid) {
    throw new ApiError('validation_failed', 'the cursor is not valid for this listing', [
      { path: 'cursor', message: 'not a cursor returned by this listing with the same sort' },
    ]);
  }
  return { key: value as string, id: id as number };
}

function keyOf(row: ProductRow, sort: ProductSort): [string, number] {
  const field = sort.replace(/^-/, '') as 'name' | 'price' | 'created_at';
  return [row[field], row.id];
}

export const listProductsHandler: RouteHandler<typeof listProductsRoute, AppEnv> = async (c) => {
  const q = c.req.valid('query');
  const after = q.cursor === undefined ? undefined : parseCursor(q.cursor, q.sort);
  const rows = await listProducts(c.var.sql, {
    category: q.category,
    sku: q.sku,
    sort: q.sort,
    limit: q.limit,
    after,
  });
  if (rows.length > q.limit) {
    rows.length = q.limit;
    c.header('Link', nextLink(c.req.url, encodeCursor(q.sort, keyOf(rows[rows.length - 1]!, q.sort))));
  }
  return c.json(rows.map(toProduct), 200);
};
