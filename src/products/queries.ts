import type { Sql } from '../db.ts';
import type { ProductSort } from './schemas.ts';

export type ProductRow = {
  id: number;
  sku: string;
  name: string;
  description: string | null;
  price: string;
  quantity: number;
  category: string;
  created_at: string;
  updated_at: string;
};

export type NewProduct = {
  sku: string;
  name: string;
  description: string | null;
  price: string;
  quantity: number;
  category: string;
};

/** The last row of a page, as its sort key and id: where the next page starts. */
export type Keyset = { key: string; id: number };

export type ProductFilter = {
  category?: string;
  sku?: string;
  sort: ProductSort;
  limit: number;
  after?: Keyset;
};

/**
 * Inserts a product into an existing category in one statement. Returns
 * undefined when the category does not exist (nothing is written then).
 */
export async function insertProduct(sql: Sql, p: NewProduct): Promise<ProductRow | undefined> {
  const [row] = await sql<ProductRow[]>`
    WITH category AS (
      SELECT id, name FROM categories WHERE lower(name) = lower(${p.category})
    ), inserted AS (
      INSERT INTO products (sku, name, description, price, quantity, category_id)
      SELECT ${p.sku}, ${p.name}, ${p.description}, ${p.price}, ${p.quantity}, category.id
      FROM category
      RETURNING *
    )
    SELECT i.id, i.sku, i.name, i.description, i.price, i.quantity, c.name AS category,
           i.created_at, i.updated_at
    FROM inserted i CROSS JOIN category c`;
  return row;
}

export async function findProductById(sql: Sql, id: number): Promise<ProductRow | undefined> {
  const [row] = await sql<ProductRow[]>`
    SELECT p.id, p.sku, p.name, p.description, p.price, p.quantity, c.name AS category,
           p.created_at, p.updated_at
    FROM products p JOIN categories c ON c.id = p.category_id
    WHERE p.id = ${id}`;
  return row;
}

/**
 * One page of products in keyset order. Each sort has an index (led by
 * category_id for the filtered listing), so a page reads only its own rows.
 * Fetches one row more than asked to tell whether another page follows.
 */
export async function listProducts(sql: Sql, f: ProductFilter): Promise<ProductRow[]> {
  const a = f.after;
  const byCategory = f.category === undefined
    ? sql`true`
    : sql`p.category_id = (SELECT id FROM categories WHERE lower(name) = lower(${f.category}))`;
  const bySku = f.sku === undefined ? sql`true` : sql`lower(p.sku) = lower(${f.sku})`;
  const page = {
    'name': {
      after: a ? sql`lower(p.name) > lower(${a.key})` : sql`true`,
      order: sql`lower(p.name)`,
    },
    '-name': {
      after: a ? sql`lower(p.name) < lower(${a.key})` : sql`true`,
      order: sql`lower(p.name) DESC`,
    },
    'price': {
      after: a ? sql`(p.price, p.id) > (${a.key}::numeric, ${a.id})` : sql`true`,
      order: sql`p.price, p.id`,
    },
    '-price': {
      after: a ? sql`(p.price, p.id) < (${a.key}::numeric, ${a.id})` : sql`true`,
      order: sql`p.price DESC, p.id DESC`,
    },
    'created_at': {
      after: a ? sql`(p.created_at, p.id) > (${a.key}::timestamptz, ${a.id})` : sql`true`,
      order: sql`p.created_at, p.id`,
    },
    '-created_at': {
      after: a ? sql`(p.created_at, p.id) < (${a.key}::timestamptz, ${a.id})` : sql`true`,
      order: sql`p.created_at DESC, p.id DESC`,
    },
  }[f.sort];
  return sql<ProductRow[]>`
    SELECT p.id, p.sku, p.name, p.description, p.price, p.quantity, c.name AS category,
           p.created_at, p.updated_at
    FROM products p JOIN categories c ON c.id = p.category_id
    WHERE ${byCategory} AND ${bySku} AND ${page.after}
    ORDER BY ${page.order}
    LIMIT ${f.limit + 1}`;
}
