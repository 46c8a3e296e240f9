import type { Sql } from '../db.ts';
import type { ProductRow } from '../products/queries.ts';
import type { REASONS } from './schemas.ts';

export type Reason = (typeof REASONS)[number];

export type MovementRow = {
  id: number;
  product_id: number;
  delta: number;
  reason: Reason;
  note: string | null;
  quantity_after: number;
  created_at: string;
};

export type Adjustment = { delta: number; reason: Reason; note: string | null };

/**
 * Changes an active product's stock and records the movement, in one
 * statement. The UPDATE itself refuses to go below zero, so concurrent
 * adjustments cannot oversell. Undefined when no row changed: the product is
 * missing or archived, or its stock is too low.
 */
export async function adjustStock(
  sql: Sql,
  productId: number,
  a: Adjustment,
): Promise<{ movement: MovementRow; product: ProductRow } | undefined> {
  const [row] = await sql<(ProductRow & { [K in keyof MovementRow as `movement_${K}`]: MovementRow[K] })[]>`
    WITH p AS (
      UPDATE products SET quantity = quantity + ${a.delta}
      WHERE id = ${productId} AND archived_at IS NULL AND quantity + ${a.delta} >= 0
      RETURNING *
    ), m AS (
      INSERT INTO stock_movements (product_id, delta, reason, note, quantity_after)
      SELECT p.id, ${a.delta}, ${a.reason}, ${a.note}, p.quantity FROM p
      RETURNING *
    )
    SELECT p.id, p.sku, p.name, p.description, p.price, p.quantity, c.name AS category,
           p.created_at, p.updated_at, p.version,
           m.id AS movement_id, m.product_id AS movement_product_id, m.delta AS movement_delta,
           m.reason AS movement_reason, m.note AS movement_note,
           m.quantity_after AS movement_quantity_after, m.created_at AS movement_created_at
    FROM p JOIN categories c ON c.id = p.category_id CROSS JOIN m`;
  if (!row) return undefined;
  const { id, sku, name, description, price, quantity, category, created_at, updated_at, version } = row;
  return {
    product: { id, sku, name, description, price, quantity, category, created_at, updated_at, version },
    movement: {
      id: row.movement_id,
      product_id: row.movement_product_id,
      delta: row.movement_delta,
      reason: row.movement_reason,
      note: row.movement_note,
      quantity_after: row.movement_quantity_after,
      created_at: row.movement_created_at,
    },
  };
}

/** A product's movements, newest first, after the movement id `before` when given. */
export async function listMovements(
  sql: Sql,
  productId: number,
  limit: number,
  before?: number,
): Promise<MovementRow[]> {
  return sql<MovementRow[]>`
    SELECT id, product_id, delta, reason, note, quantity_after, created_at
    FROM stock_movements
    WHERE product_id = ${productId} AND ${before === undefined ? sql`true` : sql`id < ${before}`}
    ORDER BY id DESC
    LIMIT ${limit + 1}`;
}
