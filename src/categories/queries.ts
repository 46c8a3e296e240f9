import type { Sql } from '../db.ts';

export type CategoryRow = {
  id: number;
  name: string;
  description: string | null;
  product_count: number;
  created_at: string;
};

/** Categories by name, each with how many products it holds. */
export async function listCategories(sql: Sql): Promise<CategoryRow[]> {
  return sql<CategoryRow[]>`
    SELECT c.id, c.name, c.description, c.created_at,
           (SELECT count(*) FROM products p WHERE p.category_id = c.id AND p.archived_at IS NULL) AS product_count
    FROM categories c
    ORDER BY lower(c.name)`;
}

/** Inserts a category; a duplicate name raises the unique violation categories_name_key. */
export async function insertCategory(sql: Sql, name: string, description: string | null): Promise<CategoryRow> {
  const [row] = await sql<CategoryRow[]>`
    INSERT INTO categories (name, description) VALUES (${name}, ${description})
    RETURNING id, name, description, created_at, 0 AS product_count`;
  return row!;
}

/**
 * Makes sure a category with this name exists. Two requests creating the same
 * new category at once both succeed: the loser's insert waits for the winner's
 * commit and then does nothing.
 */
export async function ensureCategory(sql: Sql, name: string): Promise<{ id: number; name: string }> {
  const [created] = await sql<{ id: number; name: string }[]>`
    INSERT INTO categories (name) VALUES (${name}) ON CONFLICT (lower(name)) DO NOTHING RETURNING id, name`;
  if (created) return created;
  const [existing] = await sql<{ id: number; name: string }[]>`
    SELECT id, name FROM categories WHERE lower(name) = lower(${name})`;
  return existing!;
}

/**
 * Deletes a category. One that still has products (archived ones included)
 * raises the foreign-key violation products_category_id_fkey.
 */
export async function deleteCategory(sql: Sql, id: number): Promise<boolean> {
  const rows = await sql`DELETE FROM categories WHERE id = ${id} RETURNING id`;
  return rows.length === 1;
}
