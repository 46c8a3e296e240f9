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

/**
 * Active products with fewer than `below` units, by category then quantity;
 * a product with a reorder point at any location is judged by its reorder
 * points instead (belowReorderPoint).
 */
export async function lowStock(sql: Sql, below: number): Promise<LowStockRow[]> {
  return sql<LowStockRow[]>`
    SELECT c.name AS category, p.id, p.sku, p.name, p.quantity
    FROM products p JOIN categories c ON c.id = p.category_id
    WHERE p.archived_at IS NULL AND p.quantity < ${below}
      AND NOT EXISTS (SELECT 1 FROM stock_levels l WHERE l.product_id = p.id AND l.reorder_point IS NOT NULL)
    ORDER BY lower(c.name), p.quantity, p.id`;
}

export type LocationTotals = {
  location_id: number;
  code: string;
  name: string;
  units: number;
  reserved: number;
  available: number;
  value: string;
};

/**
 * Stock per active location, over active products: units on hand, what open
 * reservations hold, what is available, and the value on hand (price × on hand).
 */
export async function locationTotals(sql: Sql): Promise<LocationTotals[]> {
  return sql<LocationTotals[]>`
    SELECT l.id AS location_id, l.code, l.name,
           coalesce(sum(s.on_hand), 0)::bigint AS units,
           coalesce(sum(s.reserved), 0)::bigint AS reserved,
           coalesce(sum(greatest(s.on_hand - s.reserved, 0)), 0)::bigint AS available,
           round(coalesce(sum(p.price * s.on_hand), 0), 2)::text AS value
    FROM locations l
    LEFT JOIN (SELECT s.*, stock_reserved(s.product_id, s.location_id) AS reserved FROM stock_levels s) s
      ON s.location_id = l.id AND EXISTS (SELECT 1 FROM products a WHERE a.id = s.product_id AND a.archived_at IS NULL)
    LEFT JOIN products p ON p.id = s.product_id
    WHERE l.archived_at IS NULL
    GROUP BY l.id
    ORDER BY l.id`;
}

export type ReorderRow = {
  id: number;
  sku: string;
  name: string;
  location_id: number;
  location_code: string;
  available: number;
  reorder_point: number;
};

/** Levels of active products at active locations whose available stock is below their reorder point. */
export async function belowReorderPoint(sql: Sql): Promise<ReorderRow[]> {
  return sql<ReorderRow[]>`
    SELECT p.id, p.sku, p.name, l.id AS location_id, l.code AS location_code,
           greatest(s.on_hand - stock_reserved(s.product_id, s.location_id), 0) AS available, s.reorder_point
    FROM stock_levels s
    JOIN products p ON p.id = s.product_id AND p.archived_at IS NULL
    JOIN locations l ON l.id = s.location_id AND l.archived_at IS NULL
    WHERE s.reorder_point IS NOT NULL
      AND greatest(s.on_hand - stock_reserved(s.product_id, s.location_id), 0) < s.reorder_point
    ORDER BY l.id, p.id`;
}
