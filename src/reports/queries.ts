import type { Sql } from '../db.ts';

export type CategoryTotals = {
  category: string | null;
  product_count: number;
  units: number;
  value: string;
};

export type LowStockRow = { category: string; id: number; sku: string; name: string; quantity: number };

/**
 * Stock per category and in total (the row whose category is null), over
 * active products. Value is price × quantity summed as exact numeric, sent as text.
 */
export async function inventoryTotals(sql: Sql): Promise<CategoryTotals[]> {
  return sql<CategoryTotals[]>`
    SELECT c.name AS category,
           count(p.id) AS product_count,
           coalesce(sum(p.quantity), 0)::bigint AS units,
           round(coalesce(sum(p.price * p.quantity), 0), 2)::text AS value
    FROM categories c
    LEFT JOIN products p ON p.category_id = c.id AND p.archived_at IS NULL
    GROUP BY GROUPING SETS ((c.id, c.name), ())
    ORDER BY (c.name IS NULL), lower(c.name)`;
}

/** Active products with fewer than `below` units, by category then quantity. */
export async function lowStock(sql: Sql, below: number): Promise<LowStockRow[]> {
  return sql<LowStockRow[]>`
    SELECT c.name AS category, p.id, p.sku, p.name, p.quantity
    FROM products p JOIN categories c ON c.id = p.category_id
    WHERE p.archived_at IS NULL AND p.quantity < ${below}
    ORDER BY lower(c.name), p.quantity, p.id`;
}
