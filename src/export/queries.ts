/**
 * The SQL of the export: the products it writes (one category's, or all
 * active ones), counted and streamed out as CSV by COPY.
 */
import type { Sql } from '../db.ts';

/** A category's id by name, case-insensitively. */
export async function findCategoryId(sql: Sql, name: string): Promise<number | undefined> {
  const [row] = await sql<{ id: number }[]>`SELECT id FROM categories WHERE lower(name) = lower(${name})`;
  return row?.id;
}

/** How many active products an export writes. */
export async function countActiveProducts(sql: Sql, categoryId?: number): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM products
    WHERE archived_at IS NULL AND ${categoryId === undefined ? sql`true` : sql`category_id = ${categoryId}`}`;
  return row!.n;
}

/** How many rows an export writes: one per product, or one per product and stock level. */
export async function countExportRows(sql: Sql, categoryId: number | undefined, byLocation: boolean): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    SELECT coalesce(sum(CASE WHEN ${byLocation} THEN greatest(levels.n, 1) ELSE 1 END), 0)::int AS n
    FROM products p
    CROSS JOIN LATERAL (SELECT count(*) AS n FROM stock_levels s JOIN locations l ON l.id = s.location_id
                        WHERE s.product_id = p.id AND l.archived_at IS NULL) levels
    WHERE p.archived_at IS NULL AND ${categoryId === undefined ? sql`true` : sql`p.category_id = ${categoryId}`}`;
  return row!.n;
}

/**
 * Active products as CSV with a header row, ordered by name as the API lists
 * them (case-insensitively), streamed by COPY. A null description is an empty
 * field, an empty one "" (the import reads them back the same way). By
 * location (the default), one row per product and stock level at an active
 * location, its quantity that level's on hand and its `location` the code
 * (the default location first); a product without a level has one row at the
 * default location. Otherwise one row per product, its quantity the total, no
 * location column.
 */
export function copyProductsOut(sql: Sql, categoryId?: number, byLocation = true) {
  // COPY takes no bind parameters; the only value inlined is an integer id.
  const byCategory = categoryId === undefined ? '' : `AND p.category_id = ${Math.trunc(Number(categoryId))}`;
  const query = byLocation
    ? `
      SELECT p.sku, p.name, p.description, p.price, coalesce(s.on_hand, 0) AS quantity, c.name AS category,
             coalesce(l.code, d.code) AS location
      FROM products p JOIN categories c ON c.id = p.category_id
      CROSS JOIN (SELECT code FROM locations WHERE is_default) d
      LEFT JOIN (stock_levels s JOIN locations l ON l.id = s.location_id AND l.archived_at IS NULL) ON s.product_id = p.id
      WHERE p.archived_at IS NULL ${byCategory}
      ORDER BY lower(p.name), p.id, l.is_default IS NOT TRUE, lower(l.code)`
    : `
      SELECT p.sku, p.name, p.description, p.price, p.quantity, c.name AS category
      FROM products p JOIN categories c ON c.id = p.category_id
      WHERE p.archived_at IS NULL ${byCategory}
      ORDER BY lower(p.name)`;
  // sql.unsafe: COPY takes no bind parameters; the text is constant but for the integer id above.
  return sql.unsafe(`COPY (${query}) TO STDOUT WITH (FORMAT csv, HEADER true)`).readable();
}
