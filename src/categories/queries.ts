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
 * Makes sure a category with this name exists, and keeps it until the caller's
 * transaction ends: a new one is ours until we commit; a found one is locked
 * FOR KEY SHARE, so a concurrent DELETE waits for us (and then finds the
 * product we add, 409 category_not_empty) instead of removing it under us. A
 * category deleted between our two statements is created again. Two requests
 * creating the same new category both succeed: the loser's insert waits for
 * the winner's commit and then finds its row.
 * Run it in a transaction, with the write that uses the id.
 */
export async function ensureCategory(sql: Sql, name: string): Promise<{ id: number; name: string }> {
  // Each round that finds nothing saw a concurrent delete commit: rounds are
  // bounded by other transactions' progress, and the cap only guards a bug.
  for (let round = 0; round < 100; round++) {
    const [created] = await sql<{ id: number; name: string }[]>`
      INSERT INTO categories (name) VALUES (${name}) ON CONFLICT (lower(name)) DO NOTHING RETURNING id, name`;
    if (created) return created;
    const [existing] = await sql<{ id: number; name: string }[]>`
      SELECT id, name FROM categories WHERE lower(name) = lower(${name}) FOR KEY SHARE`;
    if (existing) return existing;
  }
  throw new Error(`category ${JSON.stringify(name)} was deleted 100 times while being created`);
}

/**
 * Deletes a category: 'deleted', 'missing', or 'not_empty' when it still has
 * products (archived ones included): the foreign key products_category_id_fkey
 * refuses the delete, and only here does its violation mean that.
 */
export async function deleteCategory(sql: Sql, id: number): Promise<'deleted' | 'missing' | 'not_empty'> {
  try {
    const rows = await sql`DELETE FROM categories WHERE id = ${id} RETURNING id`;
    return rows.length === 1 ? 'deleted' : 'missing';
  } catch (error) {
    const e = error as { code?: string; constraint_name?: string };
    if (e.code === '23503' && e.constraint_name === 'products_category_id_fkey') return 'not_empty';
    throw error;
  }
}
