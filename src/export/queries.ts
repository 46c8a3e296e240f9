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

/**
 * Active products as CSV with a header row, ordered by name as the API lists
 * them (case-insensitively), streamed by COPY. A null description is an empty
 * field, an empty one "" (the import reads them back the same way).
 */
export function copyProductsOut(sql: Sql, categoryId?: number) {
  // COPY takes no bind parameters; the only value inlined is an integer id.
  const byCategory = categoryId === undefined ? '' : `AND p.category_id = ${Math.trunc(Number(categoryId))}`;
  return sql
    .unsafe(`
    COPY (
      SELECT p.sku, p.name, p.description, p.price, p.quantity, c.name AS category
      FROM products p JOIN categories c ON c.id = p.category_id
      WHERE p.archived_at IS NULL ${byCategory}
      ORDER BY lower(p.name)
    ) TO STDOUT WITH (FORMAT csv, HEADER true)`)
    .readable();
}
